"""Train the plate detector: ``vision/data/detector.onnx`` and ``vision/data/detector_refine.onnx``.

Reproduce the shipped models (PyTorch CPU and onnx, training only: ``pip install -e '.[train]'``; about
17 + 12 minutes on one core)::

    python -m vision.train_detector --datasets ../shared/datasets

Data: the ``dev`` part (train + cal) of the OpenALPR US scenes (``vision.datasets.us_scenes(root, "dev")``, read
in place, never copied: the photographs the networks shipped before the split by vehicle already learned from),
the ``train`` part of the real Indonesian street scenes with their hand-drawn boxes of the whole plate
(``id_scene_samples``: as given and with the source's stretch undone; ``--no-id-scenes`` leaves them out),
and synthetic plates made here: Indonesian-style plates (white plate / black characters
and black plate / white characters, OpenCV Hershey fonts, small validity line) and other plate-like cards,
pasted with a perspective warp onto the dev photographs and onto synthetic vehicle fronts; dev US plates are
also cut out and pasted into other dev photographs. Heavy augmentation: scale (plate 12-190 px wide at the
network's resolution), rotation, crop, colour / brightness / contrast / gamma, grey, blur, noise, JPEG.
The ``test`` split is never read here.

Stage 1 (``--stage detect``, 3000 steps of 24 random 256x256 crops): the CenterNet-style heatmap network
described in ``vision.detector``. Stage 2 (``--stage refine``, needs stage 1's model at ``--out``, 2000
steps of 64 crops): the refiner, trained on stage 1's own candidates in augmented frames (its false
positives as negatives, its near misses as positives to re-fit), jittered true boxes and random windows.
``--holdout N`` keeps the last N dev photographs out, for tuning; ``--holdout-cal`` keeps the calibration
fold out (the dev photographs the recogniser is not trained on either). Deterministic for a seed (one thread).
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vision.calibrate import calibration_fold
from vision.datasets import default_root, us_scenes
from vision.detector import (
    MODEL_PATH,
    REFINE_H,
    REFINE_NAME,
    REFINE_W,
    STRIDE,
    PlateDetector,
    preprocess,
    refine_crop,
)
from vision.onnx_net import read_onnx

CROP = 256  # training crop at the network's resolution
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
FONTS = (cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_TRIPLEX,
         cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_PLAIN)


UNSTRETCH = 1.25  # the id-scenes' source stretched them to a square (plates 1.2-1.3 x too wide)


@dataclass(frozen=True)
class _Scene:
    """A real scene in memory (``Sampler`` takes a path or an image)."""

    image: np.ndarray
    bbox: tuple[int, int, int, int]
    plate: str

    @property
    def path(self) -> None:
        return None


def id_scene_samples(root: Path) -> list:
    """The train part of the real Indonesian street scenes (``vision.datasets.id_scenes``), each twice: as
    given (stretched to a square by their source) and narrowed by ``UNSTRETCH``, so that the detector learns
    whole Indonesian plates at either aspect rather than the stretch (a lane camera does not stretch)."""
    from vision.datasets import id_scenes

    out: list = []
    for s in id_scenes(root, "train"):
        img = cv2.imread(str(s.path))
        if img is None or s.bbox is None:
            continue
        out.append(_Scene(img, s.bbox, s.plate))
        h, w = img.shape[:2]
        nw = int(round(w / UNSTRETCH))
        x, y, bw, bh = s.bbox
        out.append(_Scene(cv2.resize(img, (nw, h), interpolation=cv2.INTER_AREA),
                          (int(round(x / UNSTRETCH)), y, max(1, int(round(bw / UNSTRETCH))), bh), s.plate))
    return out


# ----------------------------------------------------------------------------------------------- synthesis

def _text_mask(text: str, font: int, thickness: int) -> np.ndarray:
    (tw, th), base = cv2.getTextSize(text, font, 3.0, thickness)
    img = np.zeros((th + base + 4 * thickness, tw + 4 * thickness), np.uint8)
    cv2.putText(img, text, (2 * thickness, th + 2 * thickness), font, 3.0, 255, thickness, cv2.LINE_AA)
    ys, xs = np.nonzero(img > 40)
    if len(xs) == 0:
        return img
    return img[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]


def _random_text(rng: np.random.Generator) -> str:
    if rng.random() < 0.6:  # Indonesian: region, digits, suffix
        region = "".join(rng.choice(list(LETTERS), int(rng.integers(1, 3))))
        digits = "".join(rng.choice(list(DIGITS), int(rng.integers(1, 5))))
        suffix = "".join(rng.choice(list(LETTERS), int(rng.integers(0, 4))))
        return f"{region} {digits} {suffix}".strip()
    n = int(rng.integers(5, 8))
    return "".join(rng.choice(list(LETTERS + DIGITS), n))


def synth_plate(rng: np.random.Generator) -> np.ndarray:
    """A flat plate image (BGR): Indonesian white/black style mostly, sometimes a coloured US-like card."""
    kind = rng.random()
    if kind < 0.75:  # Indonesian TNKB-like
        W, H = 430, int(135 * rng.uniform(0.9, 1.1))
        if rng.random() < 0.5:
            bg, fg = (rng.uniform(200, 250),) * 3, (rng.uniform(0, 50),) * 3
        else:
            bg, fg = (rng.uniform(0, 50),) * 3, (rng.uniform(200, 250),) * 3
        bg = tuple(float(np.clip(c * rng.uniform(0.93, 1.05), 0, 255)) for c in bg)
    else:  # coloured card, US-like proportions
        W, H = int(rng.uniform(300, 430)), 150
        bg = tuple(float(v) for v in rng.uniform(150, 255, 3))
        fg = tuple(float(v) for v in rng.uniform(0, 120, 3))
        if rng.random() < 0.3:
            bg, fg = fg, bg
    img = np.zeros((H, W, 3), np.float32)
    img[:] = bg
    if rng.random() < 0.8:
        bw = int(rng.integers(4, 12))
        cv2.rectangle(img, (bw, bw), (W - bw, H - bw), fg, int(rng.integers(2, 6)), cv2.LINE_AA)
    font = FONTS[int(rng.integers(0, len(FONTS)))]
    mask = _text_mask(_random_text(rng), font, int(rng.integers(5, 8)))
    ch = int(H * rng.uniform(0.42, 0.6))
    cw = int(mask.shape[1] * ch / max(1, mask.shape[0]) * rng.uniform(0.75, 1.0))
    cw = max(8, min(cw, int(W * 0.92)))
    mask = cv2.resize(mask, (cw, ch), interpolation=cv2.INTER_AREA).astype(np.float32)[..., None] / 255.0
    x0 = (W - cw) // 2 + int(rng.integers(-5, 6))
    x0 = int(np.clip(x0, 0, W - cw))
    y0 = int(np.clip(int(H * rng.uniform(0.12, 0.3)), 0, H - ch))
    roi = img[y0: y0 + ch, x0: x0 + cw]
    roi[:] = roi * (1 - mask) + np.float32(fg) * mask
    if rng.random() < 0.7:  # small line (validity date / state name)
        small = _text_mask(rng.choice(["08.29", "12.27", "03.30", "TEXAS", "OHIO", "CALIFORNIA"]),
                           cv2.FONT_HERSHEY_SIMPLEX, 5)
        sh = int(H * 0.12)
        sw = max(4, min(int(small.shape[1] * sh / max(1, small.shape[0])), W - 20))
        small = cv2.resize(small, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)[..., None] / 255.0
        sy = y0 + ch + int(H * 0.07) if rng.random() < 0.7 else max(0, y0 - sh - int(H * 0.04))
        sy = min(sy, H - sh)
        sx = (W - sw) // 2
        roi = img[sy: sy + sh, sx: sx + sw]
        roi[:] = roi * (1 - small) + np.float32(fg) * small
    return np.clip(img, 0, 255).astype(np.uint8)


def vehicle_background(rng: np.random.Generator, width: int = 1280, height: int = 720) -> np.ndarray:
    """A rough vehicle front at a lane camera (body, windscreen, grille bars, headlights, bumper)."""
    img = np.zeros((height, width, 3), np.float32)
    top = rng.uniform(90, 230, size=3)
    road = rng.uniform(50, 140)
    grad = np.linspace(0, 1, height)[:, None, None]
    img[:] = top * (1 - grad) + road * grad
    body = rng.uniform(15, 235, size=3)
    x0, x1 = int(width * rng.uniform(0.0, 0.25)), int(width * rng.uniform(0.75, 1.0))
    y0, y1 = int(height * rng.uniform(0.0, 0.3)), int(height * rng.uniform(0.85, 1.0))
    cv2.rectangle(img, (x0, y0), (x1, y1), body.tolist(), -1)
    cv2.rectangle(img, (x0 + 40, y0 + 10), (x1 - 40, y0 + int((y1 - y0) * rng.uniform(0.2, 0.35))),
                  (rng.uniform(20, 100),) * 3, -1)
    gy0, gy1 = y0 + int((y1 - y0) * rng.uniform(0.3, 0.42)), y0 + int((y1 - y0) * rng.uniform(0.5, 0.6))
    gx0, gx1 = x0 + int((x1 - x0) * rng.uniform(0.2, 0.35)), x1 - int((x1 - x0) * rng.uniform(0.2, 0.35))
    cv2.rectangle(img, (gx0, gy0), (gx1, gy1), (rng.uniform(10, 60),) * 3, -1)
    step = int(rng.integers(7, 18))
    bar = (rng.uniform(100, 220),) * 3
    if rng.random() < 0.5:
        for y in range(gy0 + 6, gy1, step):
            cv2.line(img, (gx0 + 4, y), (gx1 - 4, y), bar, int(rng.integers(2, 5)))
    else:
        for x in range(gx0 + 6, gx1, step):
            cv2.line(img, (x, gy0 + 4), (x, gy1 - 4), bar, int(rng.integers(2, 5)))
    for cx in (x0 + int((x1 - x0) * 0.13), x1 - int((x1 - x0) * 0.13)):
        cv2.ellipse(img, (cx, (gy0 + gy1) // 2), (int((x1 - x0) * rng.uniform(0.05, 0.1)), int(rng.integers(15, 40))),
                    0, 0, 360, (rng.uniform(180, 250),) * 3, -1)
    by = y0 + int((y1 - y0) * rng.uniform(0.58, 0.7))
    cv2.rectangle(img, (x0, by), (x1, by + int(rng.integers(4, 14))), (body * 0.6).tolist(), -1)
    if rng.random() < 0.5:  # a logo / badge text, a classic false candidate
        m = _text_mask("".join(rng.choice(list(LETTERS), int(rng.integers(3, 7)))), FONTS[0], 4)
        w = int(rng.uniform(0.05, 0.15) * width)
        h = max(4, int(m.shape[0] * w / max(1, m.shape[1])))
        m = cv2.resize(m, (w, h)).astype(np.float32)[..., None] / 255.0
        lx, ly = int(rng.uniform(0.3, 0.6) * width), int(rng.uniform(0.2, 0.8) * (height - h))
        img[ly: ly + h, lx: lx + w] = img[ly: ly + h, lx: lx + w] * (1 - m) + m * rng.uniform(150, 255)
    img += rng.normal(0, 6, size=(height // 8, width // 8, 1)).repeat(8, 0).repeat(8, 1)[:height, :width]
    return np.clip(img, 0, 255).astype(np.uint8)


def paste(img: np.ndarray, plate: np.ndarray, rng: np.random.Generator, width: float, cx: float, cy: float,
          max_angle: float = 8.0) -> tuple[float, float, float, float]:
    """Warp ``plate`` into ``img`` (in place) centred at (cx, cy), ``width`` px wide; return its bbox."""
    ph, pw = plate.shape[:2]
    w = width
    h = width * ph / pw
    dst = np.float32([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    ang = np.deg2rad(rng.uniform(-max_angle, max_angle))
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]], np.float32)
    dst = dst @ rot.T
    yaw = rng.uniform(-0.15, 0.15)
    dst[[1, 2], 1] *= 1 - yaw
    dst[[0, 3], 1] *= 1 + yaw
    dst += rng.normal(0, w * 0.012, size=dst.shape).astype(np.float32)
    dst += np.float32([cx, cy])
    src = np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]])
    M = cv2.getPerspectiveTransform(src, dst)
    H, W = img.shape[:2]
    x0, y0 = int(max(0, math.floor(dst[:, 0].min()) - 2)), int(max(0, math.floor(dst[:, 1].min()) - 2))
    x1, y1 = int(min(W, math.ceil(dst[:, 0].max()) + 2)), int(min(H, math.ceil(dst[:, 1].max()) + 2))
    if x1 <= x0 or y1 <= y0:
        return (0.0, 0.0, 0.0, 0.0)
    T = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64) @ M
    warped = cv2.warpPerspective(plate, T, (x1 - x0, y1 - y0), flags=cv2.INTER_AREA if w < pw else cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), T, (x1 - x0, y1 - y0))
    a = (mask.astype(np.float32) / 255.0)[..., None]
    if rng.random() < 0.5:  # the car's lighting on the plate
        warped = np.clip(warped.astype(np.float32) * rng.uniform(0.6, 1.1), 0, 255)
    roi = img[y0:y1, x0:x1]
    roi[:] = (roi.astype(np.float32) * (1 - a) + warped.astype(np.float32) * a).astype(np.uint8)
    bx0, by0 = max(0.0, float(dst[:, 0].min())), max(0.0, float(dst[:, 1].min()))
    bx1, by1 = min(float(W), float(dst[:, 0].max())), min(float(H), float(dst[:, 1].max()))
    return (bx0, by0, bx1 - bx0, by1 - by0)


class Sampler:
    """Random training crops (CROP x CROP, network resolution) with their plate boxes."""

    def __init__(self, samples, rng: np.random.Generator):
        self.rng = rng
        self.images: list[np.ndarray] = []
        self.boxes: list[tuple[float, float, float, float]] = []
        self.plates: list[np.ndarray] = []
        for s in samples:
            img = s.image if isinstance(s, _Scene) else cv2.imread(str(s.path))
            if img is None or s.bbox is None:
                continue
            x, y, w, h = s.bbox
            f = min(1.0, 1280.0 / max(img.shape[:2]))
            if f < 1.0:
                img = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
            self.images.append(img)
            self.boxes.append((x * f, y * f, w * f, h * f))
            ix, iy, iw, ih = (int(round(v * f)) for v in (x, y, w, h))
            crop = img[max(0, iy): iy + ih, max(0, ix): ix + iw]
            if crop.size:
                self.plates.append(crop.copy())
        # pools of synthetic material (regenerated in part as training goes on)
        self.synth = [synth_plate(rng) for _ in range(600)]
        self.vehicles = [vehicle_background(rng) for _ in range(60)]
        self.calls = 0

    def refresh(self) -> None:
        rng = self.rng
        self.synth[int(rng.integers(0, len(self.synth)))] = synth_plate(rng)
        if rng.random() < 0.1:
            self.vehicles[int(rng.integers(0, len(self.vehicles)))] = vehicle_background(rng)

    def base(self) -> tuple[np.ndarray, list[tuple[float, float, float, float]]]:
        rng = self.rng
        if rng.random() < 0.65 and self.images:
            i = int(rng.integers(0, len(self.images)))
            img = self.images[i].copy()
            boxes = [self.boxes[i]]
            n_paste = int(rng.choice([0, 0, 1, 1, 2]))
        else:
            img = self.vehicles[int(rng.integers(0, len(self.vehicles)))].copy()
            boxes = []
            n_paste = int(rng.choice([1, 1, 1, 1, 2, 0]))
        H, W = img.shape[:2]
        for _ in range(n_paste):
            for _try in range(10):
                if rng.random() < 0.7 or not self.plates:
                    plate = self.synth[int(rng.integers(0, len(self.synth)))]
                else:
                    plate = self.plates[int(rng.integers(0, len(self.plates)))]
                width = W * math.exp(rng.uniform(math.log(0.04), math.log(0.3)))
                ph = width * plate.shape[0] / plate.shape[1]
                cx = rng.uniform(width * 0.5, W - width * 0.5)
                cy = rng.uniform(ph * 0.6, H - ph * 0.6)
                cand = (cx - width * 0.6, cy - ph * 0.8, width * 1.2, ph * 1.6)
                if all(_inter(cand, b) == 0 for b in boxes):
                    if rng.random() < 0.4:  # dark plate holder / frame around the plate
                        fr = cv2.copyMakeBorder(plate, *(int(plate.shape[0] * 0.08),) * 4, cv2.BORDER_CONSTANT,
                                                value=(rng.uniform(0, 60),) * 3)
                        fw = width * fr.shape[1] / plate.shape[1]
                        paste(img, fr, np.random.default_rng(int(rng.integers(1 << 30))), fw, cx, cy, 0)
                    b = paste(img, plate, rng, width, cx, cy)
                    if b[2] > 4 and b[3] > 2:
                        boxes.append(b)
                    break
        return img, boxes

    def sample(self) -> tuple[np.ndarray, list[tuple[float, float, float, float]]]:
        rng = self.rng
        self.refresh()
        img, boxes = self.base()
        H, W = img.shape[:2]
        # scale: the frame as the detector sees it (about 512x288), then a zoom around that
        s0 = math.sqrt(512 * 288 / (W * H))
        if boxes and rng.random() < 0.9:
            b = boxes[int(rng.integers(0, len(boxes)))]
            target_w = math.exp(rng.uniform(math.log(12), math.log(190)))
            s = target_w / max(1.0, b[2])
            s = float(np.clip(s, s0 * 0.35, s0 * 4.0)) if rng.random() < 0.5 else s
            bcx, bcy = b[0] + b[2] / 2, b[1] + b[3] / 2
            ox = rng.uniform(-0.4, 0.4) * CROP
            oy = rng.uniform(-0.4, 0.4) * CROP
            cx, cy = bcx - ox / s, bcy - oy / s
        else:
            s = s0 * math.exp(rng.uniform(math.log(0.6), math.log(2.5)))
            cx, cy = rng.uniform(0, W), rng.uniform(0, H)
        ang = rng.uniform(-6, 6) if rng.random() < 0.5 else 0.0
        # cut the source region the crop will see, shrink it with area averaging (as the detector's resize
        # does), then an affine warp (small rotation) into the crop
        half = CROP / 2 / s * 1.5
        rx0, ry0 = int(max(0, cx - half)), int(max(0, cy - half))
        rx1, ry1 = int(min(W, cx + half + 1)), int(min(H, cy + half + 1))
        if rx1 - rx0 < 2 or ry1 - ry0 < 2:
            rx0, ry0, rx1, ry1 = 0, 0, W, H
        img = img[ry0:ry1, rx0:rx1]
        cx, cy = cx - rx0, cy - ry0
        boxes = [(x - rx0, y - ry0, w, h) for x, y, w, h in boxes]
        if s < 0.8:
            f = s * 1.25
            nw, nh = max(2, round(img.shape[1] * f)), max(2, round(img.shape[0] * f))
            fx, fy = nw / img.shape[1], nh / img.shape[0]
            img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
            cx, cy = cx * fx, cy * fy
            boxes = [(x * fx, y * fy, w * fx, h * fy) for x, y, w, h in boxes]
            s = s / fx
        M = cv2.getRotationMatrix2D((cx, cy), ang, s)
        M[0, 2] += CROP / 2 - cx
        M[1, 2] += CROP / 2 - cy
        border = cv2.BORDER_REPLICATE if rng.random() < 0.5 else cv2.BORDER_CONSTANT
        out = cv2.warpAffine(img, M, (CROP, CROP), flags=cv2.INTER_LINEAR, borderMode=border,
                             borderValue=(float(rng.uniform(0, 255)),) * 3)
        nb = []
        for x, y, w, h in boxes:
            pts = np.float32([[x, y, 1], [x + w, y, 1], [x + w, y + h, 1], [x, y + h, 1]]) @ M.T.astype(np.float32)
            x0, y0 = pts[:, 0].min(), pts[:, 1].min()
            x1, y1 = pts[:, 0].max(), pts[:, 1].max()
            if ang:  # rotating an axis-aligned box inflates it; shrink back toward the plate's real extent
                c = abs(math.cos(math.radians(ang)))
                ww, hh = (x1 - x0), (y1 - y0)
                mx, my = (x0 + x1) / 2, (y0 + y1) / 2
                ww2 = ww * (0.5 + 0.5 * c)
                hh2 = hh * (0.5 + 0.5 * c)
                x0, x1, y0, y1 = mx - ww2 / 2, mx + ww2 / 2, my - hh2 / 2, my + hh2 / 2
            cxb, cyb = (x0 + x1) / 2, (y0 + y1) / 2
            if 0 <= cxb < CROP and 0 <= cyb < CROP:
                nb.append((float(x0), float(y0), float(x1 - x0), float(y1 - y0)))
        return photometric(out, rng), nb


def _inter(a, b) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy


def photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    f = img.astype(np.float32)
    if rng.random() < 0.8:
        f = f * rng.uniform(0.5, 1.4) + rng.uniform(-40, 40)
    if rng.random() < 0.5:
        f = f * rng.uniform(0.85, 1.15, size=3)
    if rng.random() < 0.3:
        g = rng.uniform(0.6, 1.6)
        f = 255.0 * (np.clip(f, 0, 255) / 255.0) ** g
    if rng.random() < 0.15:
        f = f.mean(axis=2, keepdims=True).repeat(3, axis=2)
    if rng.random() < 0.3:
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.3, 1.3))
    if rng.random() < 0.4:
        f = f + rng.normal(0, rng.uniform(1, 8), size=f.shape).astype(np.float32)
    out = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 90))])
        if ok:
            out = cv2.imdecode(enc, cv2.IMREAD_COLOR)
    return out


def targets(boxes, size: int = CROP) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heatmap (1,g,g), regression (4,g,g): dx, dy (cells), log(w/8), log(h/8); weights (1,g,g)."""
    g = size // STRIDE
    heat = np.zeros((1, g, g), np.float32)
    reg = np.zeros((4, g, g), np.float32)
    wt = np.zeros((1, g, g), np.float32)
    ys, xs = np.mgrid[0:g, 0:g].astype(np.float32) + 0.5
    for x, y, w, h in boxes:
        cx, cy = (x + w / 2) / STRIDE, (y + h / 2) / STRIDE
        sx, sy = max(0.6, w / STRIDE / 6), max(0.5, h / STRIDE / 6)
        gauss = np.exp(-((xs - cx) ** 2 / (2 * sx * sx) + (ys - cy) ** 2 / (2 * sy * sy)))
        ci, cj = int(min(g - 1, max(0, cy))), int(min(g - 1, max(0, cx)))
        gauss[ci, cj] = 1.0
        heat[0] = np.maximum(heat[0], gauss)
        m = gauss > 0.5
        m &= gauss >= wt[0]
        reg[0][m] = cx - xs[m]
        reg[1][m] = cy - ys[m]
        reg[2][m] = math.log(max(1.0, w) / STRIDE)
        reg[3][m] = math.log(max(1.0, h) / STRIDE)
        wt[0][m] = gauss[m]
    return heat, reg, wt


# ----------------------------------------------------------------------------------------------- model

def build_model(c=(8, 16, 24, 32, 48)):
    import torch
    from torch import nn

    def cbr(i, o, s=1, d=1):
        return nn.Sequential(nn.Conv2d(i, o, 3, s, padding=d, dilation=d, bias=False), nn.BatchNorm2d(o),
                             nn.ReLU(inplace=True))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.s1 = nn.Sequential(cbr(3, c[0], 2), cbr(c[0], c[1], 2))  # /4
            self.s2 = nn.Sequential(cbr(c[1], c[2], 2), cbr(c[2], c[2]))  # /8
            self.s3 = nn.Sequential(cbr(c[2], c[3], 2), cbr(c[3], c[3]), cbr(c[3], c[3], d=2))  # /16
            self.s4 = nn.Sequential(cbr(c[3], c[4], 2), cbr(c[4], c[4]), cbr(c[4], c[4], d=2))  # /32
            self.l4 = nn.Conv2d(c[4], c[3], 1)
            self.l3 = cbr(c[3], c[3])
            self.l2 = nn.Conv2d(c[3], c[2], 1)
            self.f = cbr(c[2], c[2])
            self.head = nn.Conv2d(c[2], 5, 1)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            with torch.no_grad():
                self.head.bias[0] = -4.0

        def forward(self, x):
            a = self.s1(x)
            b = self.s2(a)
            c3 = self.s3(b)
            d = self.s4(c3)
            c3 = self.l3(c3 + self.up(self.l4(d)))
            b = self.f(b + self.up(self.l2(c3)))
            return self.head(b)

    return Net()


def focal_loss(logit, heat):
    import torch

    p = torch.sigmoid(logit).clamp(1e-4, 1 - 1e-4)
    pos = heat.eq(1).float()
    neg = 1 - pos
    pos_loss = torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = torch.log(1 - p) * p ** 2 * (1 - heat) ** 4 * neg
    n = pos.sum().clamp(min=1)
    return -(pos_loss.sum() + neg_loss.sum()) / n


def export(model, path: Path) -> None:
    import torch

    model.eval()
    x = torch.zeros(1, 3, 288, 512)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, x, str(path), dynamo=False, input_names=["image"], output_names=["out"],
                      dynamic_axes={"image": {2: "h", 3: "w"}, "out": {2: "gh", 3: "gw"}}, opset_version=13)


def check_export(model, path: Path) -> float:
    """Largest difference between torch and cv2.dnn outputs on a random frame."""
    import torch

    net = read_onnx(path)
    x = np.random.default_rng(0).uniform(-2, 2, (1, 3, 288, 512)).astype(np.float32)
    net.setInput(x)
    y = net.forward()
    with torch.no_grad():
        yt = model.eval()(torch.from_numpy(x)).numpy()
    return float(np.abs(y - yt).max())


# ----------------------------------------------------------------------------------------------- stage 2

def build_refiner():
    from torch import nn

    def cbr(i, o, s=1):
        return nn.Sequential(nn.Conv2d(i, o, 3, s, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))

    return nn.Sequential(
        cbr(3, 16, 2), cbr(16, 24, 2), cbr(24, 32), cbr(32, 48, 2), cbr(48, 48), cbr(48, 64, 2),  # 4 x 8
        nn.Flatten(), nn.Linear(64 * (REFINE_H // 16) * (REFINE_W // 16), 96), nn.ReLU(inplace=True),
        nn.Linear(96, 5))


def refine_samples(sampler: Sampler, det: PlateDetector, rng: np.random.Generator):
    """Crops for the refiner from one augmented frame: the first stage's own candidates (hard negatives,
    and positives with its real errors), jittered true boxes, random windows. Yields (crop, label, box)."""
    img, boxes = sampler.base()
    H, W = img.shape[:2]
    if rng.random() < 0.5:  # whole-frame photometric change (the first stage sees it too)
        img = np.clip(img.astype(np.float32) * rng.uniform(0.6, 1.3) + rng.uniform(-30, 30), 0, 255).astype(np.uint8)
    out = []

    def add(cx, cy, w, h):
        crop, (x0, y0, cw, ch) = refine_crop(img, cx, cy, w, h)
        best, label = None, 0.0
        for b in boxes:
            ix = max(0.0, min(b[0] + b[2], cx + w / 2) - max(b[0], cx - w / 2))
            iy = max(0.0, min(b[1] + b[3], cy + h / 2) - max(b[1], cy - h / 2))
            inter = ix * iy
            iou = inter / (b[2] * b[3] + w * h - inter)
            bcx, bcy = b[0] + b[2] / 2, b[1] + b[3] / 2
            inside = abs(bcx - cx) < w * 0.5 and abs(bcy - cy) < h * 0.6
            if iou >= 0.2 and inside:
                best, label = b, 1.0
            elif iou > 0.05 and best is None:
                label = -1.0  # ambiguous: skip
        if label < 0:
            return
        t = np.zeros(4, np.float32)
        if best is not None:
            t[:] = ((best[0] - x0) / cw, (best[1] - y0) / ch, (best[0] + best[2] - x0) / cw,
                    (best[1] + best[3] - y0) / ch)
        out.append((photometric(crop, rng), label, t))

    for c in det.detect_raw(img, 6):
        add(*c[:4])
    for b in boxes:
        for _ in range(2):
            w = b[2] * math.exp(rng.normal(0.05, 0.2))
            h = b[3] * math.exp(rng.normal(0.1, 0.25))
            add(b[0] + b[2] / 2 + rng.normal(0, 0.12) * b[2], b[1] + b[3] / 2 + rng.normal(0, 0.15) * b[3], w, h)
    for _ in range(2):
        w = W * math.exp(rng.uniform(math.log(0.03), math.log(0.3)))
        h = w / rng.uniform(1.5, 4.0)
        add(rng.uniform(0, W), rng.uniform(0, H), w, h)
    return out


def train_refiner(args, samples, rng) -> None:
    import torch

    torch.manual_seed(args.seed)
    det = PlateDetector(args.out, refine=False)
    sampler = Sampler(samples, rng)
    model = build_refiner()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = args.refine_steps
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.1)
    pool: list = []
    t0 = time.time()
    run_c = run_b = 0.0
    for step in range(steps):
        while len(pool) < 256:
            pool.extend(refine_samples(sampler, det, rng))
        idx = rng.permutation(len(pool))[:64]
        batch = [pool[i] for i in idx]
        # keep some of the pool for reuse (cheap), replace the rest
        keep = set(rng.permutation(len(pool))[: len(pool) // 2].tolist()) - set(idx.tolist())
        pool = [pool[i] for i in sorted(keep)]
        x = torch.from_numpy(np.concatenate([preprocess(b[0]) for b in batch]))
        y = torch.tensor([b[1] for b in batch])
        t = torch.from_numpy(np.stack([b[2] for b in batch]))
        model.train()
        o = model(x)
        lc = torch.nn.functional.binary_cross_entropy_with_logits(o[:, 0], y)
        pos = y > 0.5
        lb = (torch.nn.functional.smooth_l1_loss(o[pos, 1:], t[pos], beta=0.02) if pos.any()
              else o.sum() * 0)
        loss = lc + 5.0 * lb
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        run_c = 0.98 * run_c + 0.02 * lc.item()
        run_b = 0.98 * run_b + 0.02 * lb.item()
        if step % 100 == 0 or step == steps - 1:
            print(f"refine step {step} cls {run_c:.3f} box {run_b:.4f} {time.time() - t0:.0f}s", flush=True)
    model.eval()
    path = args.out.with_name(REFINE_NAME)
    torch.onnx.export(model, torch.zeros(1, 3, REFINE_H, REFINE_W), str(path), dynamo=False,
                      input_names=["crop"], output_names=["out"],
                      dynamic_axes={"crop": {0: "n"}, "out": {0: "n"}}, opset_version=13)
    net = read_onnx(path)
    x = np.random.default_rng(1).uniform(-2, 2, (3, 3, REFINE_H, REFINE_W)).astype(np.float32)
    net.setInput(x)
    with torch.no_grad():
        diff = float(np.abs(net.forward() - model(torch.from_numpy(x)).numpy()).max())
    print(f"exported {path} ({path.stat().st_size} bytes); torch vs cv2.dnn max diff {diff:.2e}")


# ----------------------------------------------------------------------------------------------- training

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train the plate detector (dev split only).")
    ap.add_argument("--datasets", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--holdout", type=int, default=0, help="keep the last N dev images out (for tuning)")
    ap.add_argument("--holdout-cal", action="store_true",
                    help="keep the calibration fold (vision.calibrate.calibration_fold) out, for tuning on "
                         "photographs neither the detector nor the recogniser has seen")
    ap.add_argument("--no-id-scenes", dest="id_scenes", action="store_false",
                    help="leave out the real Indonesian street scenes (train part) and their drawn boxes")
    ap.add_argument("--stage", choices=["both", "detect", "refine"], default="both")
    ap.add_argument("--refine-steps", type=int, default=2000)
    ap.add_argument("--minutes", type=float, default=0, help="stop after this long (0 = no limit)")
    ap.add_argument("--init", type=Path, default=None, help="start from these weights (a --save-weights file)")
    ap.add_argument("--save-weights", type=Path, default=None, help="also save the torch weights here")
    args = ap.parse_args(argv)

    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    rng = np.random.default_rng(args.seed)
    root = args.datasets or default_root()
    samples = us_scenes(root, "dev")
    if args.holdout:
        samples = samples[: -args.holdout]
    if args.holdout_cal:
        samples = [s for s in samples if not calibration_fold(s.path.name)]
    if args.id_scenes:
        samples += id_scene_samples(root)
    if args.stage == "refine":
        train_refiner(args, samples, rng)
        return 0
    sampler = Sampler(samples, rng)
    print(f"{len(sampler.images)} dev photographs, {len(sampler.plates)} dev plate crops")
    model = build_model()
    if args.init:
        model.load_state_dict(torch.load(args.init))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.1)
    t0 = time.time()
    run_h = run_r = 0.0
    for step in range(args.steps):
        xs, hs, rs, ws = [], [], [], []
        for _ in range(args.batch):
            img, boxes = sampler.sample()
            xs.append(preprocess(img))
            h, r, w = targets(boxes)
            hs.append(h)
            rs.append(r)
            ws.append(w)
        x = torch.from_numpy(np.concatenate(xs))
        heat = torch.from_numpy(np.stack(hs))
        reg = torch.from_numpy(np.stack(rs))
        wt = torch.from_numpy(np.stack(ws))
        model.train()
        out = model(x)
        lh = focal_loss(out[:, :1], heat)
        lr_ = (torch.nn.functional.smooth_l1_loss(out[:, 1:], reg, reduction="none", beta=0.2) * wt).sum() / wt.sum().clamp(min=1)
        loss = lh + 2.0 * lr_
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        run_h = 0.98 * run_h + 0.02 * lh.item()
        run_r = 0.98 * run_r + 0.02 * lr_.item()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step} heat {run_h:.3f} reg {run_r:.3f} {time.time() - t0:.0f}s", flush=True)
        if step % 500 == 499:
            export(model, args.out)
        if args.minutes and time.time() - t0 > args.minutes * 60:
            print("time limit reached")
            break
    export(model, args.out)
    if args.save_weights:
        torch.save(model.state_dict(), args.save_weights)
    print(f"exported {args.out} ({args.out.stat().st_size} bytes); torch vs cv2.dnn max diff "
          f"{check_export(model, args.out):.2e}")
    if args.stage == "both":
        train_refiner(args, samples, np.random.default_rng(args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
