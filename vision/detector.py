"""Plate detector: finds number-plate boxes in a camera frame, fast, without PyTorch at run time.

``PlateDetector.detect`` returns padded, axis-aligned boxes (``PlateBox``), best first.

Two small networks, trained by ``python -m vision.train_detector`` (dev split only), run by
``vision.onnx_net.OnnxNet`` (onnxruntime, or ``cv2.dnn``):

1. ``vision/data/detector.onnx``: a CenterNet-style fully-convolutional network. The frame is resized
   (aspect kept) to about 512x288 pixels (0.4x for a 1280x720 frame), padded to a multiple of 32; on a
   stride-8 grid it predicts a plate-centre heatmap, the centre's sub-cell offset and the log box size.
   Peaks of the heatmap (3x3 local maxima above ``score_threshold``) become candidate boxes; each is the
   heat-weighted average of its 3x3 neighbourhood's predictions; overlapping or nested ones are dropped.
2. ``vision/data/detector_refine.onnx`` (optional): each of the best ``candidates`` boxes is cut out of the
   full-resolution frame at a standard scale (128x64, ``refine_window``); the network re-scores it
   (plate / not a plate) and re-fits the box. The final score is ``p_refine * sqrt(score_heatmap)``.

Boxes are then padded by ``PAD_X`` / ``PAD_Y`` on each side so that no character is cut. Without the model
file (e.g. a stripped install) a much weaker classic OpenCV fallback (text-texture density) is used
(``learned`` tells which one runs).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vision.models import site_file
from vision.onnx_net import OnnxNet

__all__ = ["PlateBox", "PlateDetector", "get_detector", "MODEL_PATH"]

MODEL_PATH = Path(__file__).with_name("data") / "detector.onnx"
STRIDE = 8  # output grid stride of the network, in network pixels
NET_AREA = 512 * 288  # the frame is resized to about this many pixels (aspect kept)
MEAN, INV_STD = 127.5, 1.0 / 64.0


def preprocess(img_bgr: np.ndarray) -> np.ndarray:
    """uint8 BGR (H, W, 3) -> float32 (1, 3, H, W) network input."""
    x = (img_bgr.astype(np.float32) - MEAN) * INV_STD
    return x.transpose(2, 0, 1)[None]


@dataclass(frozen=True)
class PlateBox:
    x: int
    y: int
    w: int
    h: int
    score: float
    quad: tuple[tuple[float, float], ...] | None = None  # tl, tr, br, bl

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)


class PlateDetector:
    """Finds plates in a frame with the learned model (ONNX, ``vision.onnx_net``), or a classic fallback without it.

    ``score_threshold``: peaks of the plate-centre heatmap below it are dropped (0..1).
    """

    def __init__(self, model_path: Path | str | None = None, score_threshold: float = 0.15,
                 refine_path: Path | str | None = None, refine: bool = True, candidates: int = 4) -> None:
        self.model_path = Path(model_path) if model_path is not None else MODEL_PATH
        self.score_threshold = score_threshold
        self.candidates = candidates
        self._net: OnnxNet | None = None
        self._refiner: OnnxNet | None = None
        if self.model_path.exists():
            self._net = OnnxNet(self.model_path)
        elif model_path is not None:
            raise FileNotFoundError(self.model_path)
        rp = Path(refine_path) if refine_path is not None else self.model_path.with_name(REFINE_NAME)
        if refine and self._net is not None and rp.exists():
            self._refiner = OnnxNet(rp)

    @property
    def learned(self) -> bool:
        return self._net is not None

    @property
    def refining(self) -> bool:
        return self._refiner is not None

    def detect(self, image_bgr: np.ndarray, max_plates: int = 3) -> list[PlateBox]:
        """Plate boxes (padded a few %), best first; [] if none. Grey or BGR uint8 input."""
        bgr = _to_bgr(image_bgr)
        H, W = bgr.shape[:2]
        if H < 8 or W < 8 or max_plates <= 0:
            return []
        if self._net is None:
            return _classic(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), max_plates)
        out, s = self._forward(bgr)
        n = max(max_plates, self.candidates) if self._refiner is not None else max_plates
        cands = _candidates(out, s, W, H, n, self.score_threshold)
        if self._refiner is not None and cands:
            # candidates far weaker than the best one are not worth the second look
            cands = [c for c in cands if c[4] >= REFINE_MIN_RATIO * cands[0][4]]
            cands = self._refine(bgr, cands)
        return _finish(cands, W, H, max_plates)

    def _refine(self, bgr: np.ndarray, cands: list[tuple[float, ...]]) -> list[tuple[float, ...]]:
        """Second stage: re-score each candidate and re-fit its box on a crop at a standard scale."""
        crops, windows = [], []
        for cx, cy, w, h, _ in cands:
            crop, win = refine_crop(bgr, cx, cy, w, h)
            crops.append(crop)
            windows.append(win)
        blob = cv2.dnn.blobFromImages(crops, INV_STD, None, (MEAN, MEAN, MEAN), swapRB=False, crop=False)
        out = self._refiner.run(blob)
        res = []
        for (x0, y0, cw, ch), o, c in zip(windows, out, cands, strict=True):
            p = 1.0 / (1.0 + math.exp(-float(o[0])))
            bx0, by0, bx1, by1 = (float(v) for v in o[1:5])
            bw, bh = (bx1 - bx0) * cw, (by1 - by0) * ch
            if bw <= 1 or bh <= 1:
                res.append(c[:4] + (p * math.sqrt(c[4]),))
                continue
            res.append((x0 + (bx0 + bx1) / 2 * cw, y0 + (by0 + by1) / 2 * ch, bw, bh, p * math.sqrt(c[4])))
        res.sort(key=lambda r: -r[4])
        return res

    def detect_raw(self, image_bgr: np.ndarray, n: int = 4) -> list[tuple[float, ...]]:
        """First-stage candidates (cx, cy, w, h, score), unpadded, without the refiner (for training)."""
        bgr = _to_bgr(image_bgr)
        out, s = self._forward(bgr)
        return _candidates(out, s, bgr.shape[1], bgr.shape[0], n, self.score_threshold)

    def heatmap(self, image_bgr: np.ndarray) -> np.ndarray:
        """The plate-centre probability map (stride 8 at the network's scale), for inspection."""
        out, _ = self._forward(_to_bgr(image_bgr))
        return 1.0 / (1.0 + np.exp(-out[0]))

    def _forward(self, bgr: np.ndarray) -> tuple[np.ndarray, float]:
        H, W = bgr.shape[:2]
        s = min(2.0, math.sqrt(NET_AREA / float(W * H)))
        nw, nh = max(1, round(W * s)), max(1, round(H * s))
        k = int(1.0 / s)
        if k >= 2 and W // k >= nw and H // k >= nh:  # area averaging is fast for an integer factor
            bgr = cv2.resize(bgr, (W // k, H // k), interpolation=cv2.INTER_AREA)
        small = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
        pw, ph = (-nw) % 32, (-nh) % 32
        if pw or ph:
            small = cv2.copyMakeBorder(small, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
        blob = cv2.dnn.blobFromImage(small, INV_STD, None, (MEAN, MEAN, MEAN), swapRB=False, crop=False)
        return self._net.run(blob)[0], s


def _to_bgr(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise TypeError("image must be a numpy array")
    if image.dtype != np.uint8:
        raise TypeError(f"image must be uint8, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR)
    raise ValueError(f"unsupported image shape {image.shape}")


PAD_X, PAD_Y = 0.05, 0.08  # padding added to each side of a predicted box, as a share of its size


def _candidates(out: np.ndarray, s: float, W: int, H: int, n: int, thr: float) -> list[tuple[float, ...]]:
    """Up to ``n`` raw plate boxes (cx, cy, w, h, score) in image pixels from the network's output."""
    logit = out[0]
    peak = cv2.dilate(logit, np.ones((3, 3), np.uint8))
    thr_logit = math.log(thr / (1 - thr))
    ys, xs = np.nonzero((logit >= peak) & (logit > thr_logit))
    if len(ys) == 0:
        return []
    order = np.argsort(-logit[ys, xs])[: n * 3]
    gh, gw = logit.shape
    prob = 1.0 / (1.0 + np.exp(-logit))
    gy, gx = np.mgrid[0:gh, 0:gw].astype(np.float32) + 0.5
    cands: list[tuple[float, ...]] = []
    for k in order:
        i, j = int(ys[k]), int(xs[k])
        score = float(prob[i, j])
        # every cell near a centre was trained to predict that centre and size: average the 3x3
        # neighbourhood, weighted by its heat
        i0, i1, j0, j1 = max(0, i - 1), min(gh, i + 2), max(0, j - 1), min(gw, j + 2)
        wgt = prob[i0:i1, j0:j1]
        wgt = wgt * (wgt >= 0.5 * score)
        wsum = float(wgt.sum())
        cx = float((wgt * (gx[i0:i1, j0:j1] + out[1, i0:i1, j0:j1])).sum()) / wsum * STRIDE / s
        cy = float((wgt * (gy[i0:i1, j0:j1] + out[2, i0:i1, j0:j1])).sum()) / wsum * STRIDE / s
        w = math.exp(min(6.0, float((wgt * out[3, i0:i1, j0:j1]).sum()) / wsum)) * STRIDE / s
        h = math.exp(min(6.0, float((wgt * out[4, i0:i1, j0:j1]).sum()) / wsum)) * STRIDE / s
        if not (0 <= cx < W and 0 <= cy < H) or w < 4 or h < 2:
            continue
        c = (cx, cy, w, h, score)
        if any(_overlap(c, o) for o in cands):
            continue
        cands.append(c)
        if len(cands) >= n:
            break
    return cands


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """IoU > 0.3, or one box mostly (80 %) inside the other; boxes as (cx, cy, w, h, ...)."""
    ix = max(0.0, min(a[0] + a[2] / 2, b[0] + b[2] / 2) - max(a[0] - a[2] / 2, b[0] - b[2] / 2))
    iy = max(0.0, min(a[1] + a[3] / 2, b[1] + b[3] / 2) - max(a[1] - a[3] / 2, b[1] - b[3] / 2))
    inter = ix * iy
    aa, ab = a[2] * a[3], b[2] * b[3]
    return inter > 0.3 * (aa + ab - inter) or inter >= 0.8 * min(aa, ab)


def _finish(cands: list[tuple[float, ...]], W: int, H: int, max_plates: int) -> list[PlateBox]:
    """Pad, clip and de-duplicate raw boxes (best first) into at most ``max_plates`` PlateBox."""
    kept: list[tuple[float, ...]] = []
    boxes: list[PlateBox] = []
    for c in cands:
        if any(_overlap(c, o) for o in kept):
            continue
        cx, cy, w, h, score = c
        w, h = w * (1 + 2 * PAD_X), h * (1 + 2 * PAD_Y)
        x0, y0 = max(0, int(math.floor(cx - w / 2))), max(0, int(math.floor(cy - h / 2)))
        x1, y1 = min(W, int(math.ceil(cx + w / 2))), min(H, int(math.ceil(cy + h / 2)))
        if x1 - x0 < 4 or y1 - y0 < 2:
            continue
        kept.append(c)
        boxes.append(PlateBox(x0, y0, x1 - x0, y1 - y0, float(min(1.0, max(0.0, score)))))
        if len(boxes) >= max_plates:
            break
    return boxes


REFINE_NAME = "detector_refine.onnx"
REFINE_W, REFINE_H = 128, 64  # the refiner's input crop
REFINE_MIN_RATIO = 0.2  # refine only candidates scoring at least this share of the best one's heat


def refine_window(cx: float, cy: float, w: float, h: float) -> tuple[float, float, float, float]:
    """The crop (x0, y0, width, height) the refiner sees around a candidate box: 2:1 (width:height),
    centred on the box, 1.6 times the larger of its width and 2.2 times its height wide."""
    cw = max(w, 2.2 * h) * 1.6
    ch = cw * REFINE_H / REFINE_W
    return cx - cw / 2, cy - ch / 2, cw, ch


def refine_crop(bgr: np.ndarray, cx: float, cy: float, w: float, h: float
                ) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    x0, y0, cw, ch = refine_window(cx, cy, w, h)
    iw, ih = max(2, int(round(cw))), max(1, int(round(ch)))
    patch = cv2.getRectSubPix(bgr, (iw, ih), (cx, cy))
    interp = cv2.INTER_AREA if iw > REFINE_W else cv2.INTER_LINEAR
    crop = cv2.resize(patch, (REFINE_W, REFINE_H), interpolation=interp)
    return crop, (cx - iw / 2, cy - ih / 2, float(iw), float(ih))


def _classic(gray: np.ndarray, max_plates: int) -> list[PlateBox]:
    H, W = gray.shape
    s = 640.0 / W if W > 640 else 1.0
    g = cv2.resize(gray, (max(1, round(W * s)), max(1, round(H * s))), interpolation=cv2.INTER_AREA) if s != 1 else gray
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (13, 5))
    strokes = cv2.max(cv2.morphologyEx(g, cv2.MORPH_BLACKHAT, k), cv2.morphologyEx(g, cv2.MORPH_TOPHAT, k))
    gx = np.abs(cv2.Sobel(strokes, cv2.CV_16S, 1, 0, ksize=3)).astype(np.float32)
    if gx.max() < 20:
        return []
    gx = cv2.GaussianBlur(gx, (5, 5), 0)
    gx8 = np.clip(gx * (255.0 / max(1.0, gx.max())), 0, 255).astype(np.uint8)
    _, th = cv2.threshold(gx8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    th = cv2.morphologyEx(th, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (17, 3)))
    th = cv2.morphologyEx(th, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (5, 3)))
    contours, _ = cv2.findContours(th, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for c in contours:
        x, y, w, h = cv2.boundingRect(c)
        if w < 12 or h < 5 or not (1.3 <= w / h <= 7.0):
            continue
        dens = float(gx8[y: y + h, x: x + w].mean()) / 255.0
        fill = cv2.contourArea(c) / float(w * h)
        score = float(np.clip(dens * 2 * fill, 0, 1))
        px, py = 0.06 * w, 0.12 * h
        x0, y0 = max(0, int((x - px) / s)), max(0, int((y - py) / s))
        x1, y1 = min(W, int((x + w + px) / s + 1)), min(H, int((y + h + py) / s + 1))
        out.append(PlateBox(x0, y0, x1 - x0, y1 - y0, score))
    out.sort(key=lambda b: -b.score)
    return out[:max_plates]


_DETECTOR: PlateDetector | None = None
_LOCK = threading.Lock()


def get_detector() -> PlateDetector:
    """Process-wide cached detector (lazy)."""
    global _DETECTOR
    with _LOCK:
        if _DETECTOR is None:  # a site's own files (vision.models) before the shipped ones
            path = site_file(MODEL_PATH.name) or MODEL_PATH
            refine = site_file(REFINE_NAME) or MODEL_PATH.with_name(REFINE_NAME)
            _DETECTOR = PlateDetector(path if path != MODEL_PATH else None, refine_path=refine)
        return _DETECTOR


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes (0 when they do not meet)."""
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    ix = max(0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0))
    iy = max(0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0
