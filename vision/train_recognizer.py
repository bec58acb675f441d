"""Train the segmentation-free plate recognisers shipped in ``vision/data/recognizer.npz`` (every format's)
and ``vision/data/recognizer_id.npz`` (Indonesian plates, the lane's format, ``--out`` it).

    python -m vision.train_recognizer --datasets ../shared/datasets [--minutes 22] [--seed 1]

Model: a small CRNN-like network (``vision.recognizer``): five convolution layers turn a grey plate crop
resized to 32x128 into 32 column features, two 1-D convolutions along the columns add context, and a
per-column linear layer scores the 36 characters plus the CTC blank. Trained with CTC loss (PyTorch, CPU,
one thread; PyTorch is only needed here: ``pip install -e '.[train]'``), then exported with batch norm
folded into the convolutions to ``vision/data/recognizer.npz``; the runtime forward pass is numpy only.

Training data, drawn afresh for every batch:

* synthetic plates (about 70 %): Indonesian-style (1-2 letters, 1-4 digits, 0-3 letters, spaced, a small
  validity line under the number, a raised border, black or white plates) and US-style (5-8 characters,
  condensed glyphs, a state name above and a slogan below in small letters, emblems between groups,
  pictorial backgrounds, frames, bolts), with glyphs from OpenCV's Hershey fonts and DejaVu Sans (see
  ``vision.train.glyph_masks``); placed on a vehicle-like background and cut out with an imprecise,
  perspective-jittered box (as a detector's), then blurred, down-sampled, noised, JPEG-compressed,
  contrast- and light-changed; a few crops without a plate (empty label);
* the real photographs of the **train** part of the vehicle split only (``vision.datasets``): the Indonesian
  crops and the US plates cut from the train scenes' ground-truth boxes, with the same box jitter and
  photometric changes. The ``cal`` part is left out, so that ``bench/vision.py --calibrate`` fits the
  confidence on readings the model was not trained on. The test part is never read. With ``--respell-share`` some of them are respelt: their characters put in
  a new order (``RealDev.respell``; tried, not used for the shipped model).

The Indonesian synthetic plates draw the letter O as a slashed zero on 60 % of the plates
(``SLASHED_O_SHARE``), as newer real plates do. ``--id-share`` and ``--real-id-share`` set how many
synthetic and real samples are Indonesian (defaults 0.5 and 0.4), for training a format's own network.

Reproduce the shipped model: the chained runs listed in ``docs/vision.md`` ("Detector + recogniser": runs
1-5, then run 9), the last one with ``--out vision/data/recognizer.npz``, then for the id network run A from
it with ``--out vision/data/recognizer_id.npz``, then ``python bench/vision.py --calibrate``. A single
run from scratch (``python -m vision.train_recognizer --datasets ../shared/datasets``, about 20 minutes on
one core) gives a somewhat weaker model.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import cv2
import numpy as np

from vision.grammar import CLASSES, normalise
from vision.recognizer import IN_H, IN_W, MODEL_PATH, preprocess

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"


SLASHED_O_SHARE = 0.6
"""Share of the synthetic Indonesian plates whose letter O is a slashed zero, as on many newer real plates."""
EXTRA_FONT_SHARE = {"id": 0.2, "us": 0.45}
"""With ``Synth(extra_fonts=True)``: the share of each country's plates drawn in one of the fetched faces."""


# ----------------------------------------------------------------------------- synthetic plates
def slashed_o(zero: np.ndarray) -> np.ndarray:
    """The letter O as the newer Indonesian plates draw it, from a font's zero (uint8 ink mask): a slash
    from the lower left to the upper right across the inside of the oval, as thick as the zero's own
    stroke. The digit 0 on the same plates is plain, so without this glyph a real suffix like ``UZØ``
    is a shape the recogniser has never been shown."""
    ink = (zero > 127).astype(np.uint8)
    h, w = ink.shape
    outside = np.pad(ink, 1)
    cv2.floodFill(outside, None, (0, 0), 2)
    inside = (outside[1:-1, 1:-1] == 0) | (ink > 0)  # the oval, filled
    dist = cv2.distanceTransform(np.pad(ink, 1), cv2.DIST_L2, 3)
    stroke = max(2, int(round(1.6 * float(dist.max()))))
    bar = np.zeros_like(zero)
    cv2.line(bar, (int(0.1 * w), int(0.9 * h)), (int(0.9 * w), int(0.1 * h)), 255, stroke, cv2.LINE_AA)
    return np.maximum(zero, np.where(inside, bar, 0).astype(zero.dtype))


class Synth:
    """Synthetic plates for recogniser training. With ``extra_fonts`` the faces fetched by
    ``vision.fetch_fonts`` (condensed and gothic sans, like those of many real plates) are drawn too:
    ``EXTRA_FONT_SHARE`` of each country's plates."""

    def __init__(self, rng: np.random.Generator, extra_fonts: bool = False):
        from vision.train import extra_font_files, glyph_masks, plate_font_files

        self.rng = rng
        # char -> list of ink masks, the same font order for every char: common, plate-like, extra faces
        self.glyphs = glyph_masks(plate_fonts=True, extra_fonts=extra_fonts)
        self.n_fonts = min(len(v) for v in self.glyphs.values())
        n_extra = len(extra_font_files()) if extra_fonts else 0
        n_plate = len(plate_font_files())
        self.extra_fonts = list(range(self.n_fonts - n_extra, self.n_fonts))
        self.plate_fonts = list(range(self.n_fonts - n_extra - n_plate, self.n_fonts - n_extra))
        self.slashed_o = [slashed_o(m) for m in self.glyphs["0"]]  # the letter O of new Indonesian plates
        self.slashed_o_share = SLASHED_O_SHARE

    def _font(self, kind: str) -> int:
        """A font for the plate's characters: mostly a plate-like face for Indonesian plates."""
        r = self.rng
        if self.extra_fonts and r.random() < EXTRA_FONT_SHARE[kind]:
            return int(r.choice(self.extra_fonts))
        if self.plate_fonts and r.random() < (0.6 if kind == "id" else 0.3):
            return int(r.choice(self.plate_fonts))
        return int(r.integers(0, self.n_fonts - len(self.extra_fonts)))  # common or plate-like

    # ---- text
    def id_text(self) -> tuple[str, list[str]]:
        r = self.rng
        region = "".join(r.choice(list(LETTERS), size=int(r.choice([1, 1, 2]))))
        nd = int(r.choice([1, 2, 3, 4, 4, 4, 4]))
        num = str(int(r.integers(1, 10))) + "".join(r.choice(list(DIGITS), size=nd - 1))
        suf = "".join(r.choice(list(LETTERS), size=int(r.choice([0, 1, 2, 2, 3, 3]))))
        groups = [g for g in (region, num, suf) if g]
        return "".join(groups), groups

    def us_text(self) -> tuple[str, list[str]]:
        r = self.rng
        k = r.random()
        L = lambda n: "".join(r.choice(list(LETTERS), size=n))  # noqa: E731
        D = lambda n: "".join(r.choice(list(DIGITS), size=n))  # noqa: E731
        A = lambda n: "".join(r.choice(list(LETTERS + DIGITS), size=n))  # noqa: E731
        if k < 0.2:
            groups = [L(3), D(4)]
        elif k < 0.35:
            groups = [D(1) + L(3), D(3)]
        elif k < 0.5:
            groups = [L(3), D(3)]
        elif k < 0.6:
            groups = [D(3), L(3)]
        elif k < 0.7:
            groups = [A(int(r.integers(2, 4))), A(int(r.integers(2, 5)))]
        else:
            n = int(r.integers(2, 9))
            groups = [A(n)]
            if n >= 4 and r.random() < 0.5:
                c = int(r.integers(1, n))
                groups = [groups[0][:c], groups[0][c:]]
        return "".join(groups), groups

    # ---- drawing
    def _line(self, groups: list[str], char_h: int, font: int, condense: float, space: float,
              gap: float, italic: float, slash_o: bool = False) -> np.ndarray:
        """Float ink mask (0..1) of a text line of height ``char_h``; with ``slash_o`` the letter O is drawn
        as a slashed zero (``slashed_o``)."""
        r = self.rng
        pieces = []
        for gi, g in enumerate(groups):
            for ci, ch in enumerate(g):
                m = self.slashed_o[font] if slash_o and ch == "O" else self.glyphs[ch][font]
                w = max(1, int(round(m.shape[1] * char_h / m.shape[0] * condense)))
                pieces.append(cv2.resize(m, (w, char_h), interpolation=cv2.INTER_AREA))
                if ci < len(g) - 1:
                    pieces.append(int(space * char_h * r.uniform(0.8, 1.2)))
            if gi < len(groups) - 1:
                pieces.append(int(gap * char_h))
        width = sum(p.shape[1] if isinstance(p, np.ndarray) else p for p in pieces) + 2
        pad = int(abs(italic) * char_h) + 2
        out = np.zeros((char_h + 2, width + 2 * pad), np.float32)
        x = pad
        for p in pieces:
            if isinstance(p, int):
                x += p
                continue
            out[1:1 + char_h, x:x + p.shape[1]] = np.maximum(out[1:1 + char_h, x:x + p.shape[1]], p / 255.0)
            x += p.shape[1]
        if italic:
            M = np.float32([[1, -italic, italic * char_h / 2], [0, 1, 0]])
            out = cv2.warpAffine(out, M, (out.shape[1], out.shape[0]))
        return out

    def _small_text(self, n: int) -> list[str]:
        r = self.rng
        return "".join(r.choice(list(LETTERS + "  "), size=n)).split() or ["A"]

    def _paint(self, canvas: np.ndarray, mask: np.ndarray, x: int, y: int, value: float) -> None:
        H, W = canvas.shape
        h, w = mask.shape
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(W, x + w), min(H, y + h)
        if x1 <= x0 or y1 <= y0:
            return
        m = mask[y0 - y:y1 - y, x0 - x:x1 - x]
        roi = canvas[y0:y1, x0:x1]
        roi[:] = roi * (1 - m) + value * m

    def _background_pattern(self, canvas: np.ndarray, strength: float) -> None:
        """Soft blobs and a gradient (pictorial plates, car body), drawn at a quarter of the size."""
        r = self.rng
        H, W = canvas.shape
        h, w = max(4, H // 4), max(4, W // 4)
        layer = np.zeros((h, w), np.float32)
        for _ in range(int(r.integers(0, 6))):
            c = (int(r.integers(0, w)), int(r.integers(0, h)))
            ax = (int(r.integers(2, max(3, w // 2))), int(r.integers(1, max(2, h // 2))))
            cv2.ellipse(layer, c, ax, float(r.uniform(0, 180)), 0, 360, float(r.uniform(-1, 1) * strength), -1)
        if r.random() < 0.5:  # gradient band
            layer += (np.linspace(r.uniform(-1, 1), r.uniform(-1, 1), h)[:, None] * strength).astype(np.float32)
        layer = cv2.GaussianBlur(layer, (0, 0), float(r.uniform(0.3, 1.5)))
        canvas += cv2.resize(layer, (W, H), interpolation=cv2.INTER_LINEAR)

    def plate(self, kind: str) -> tuple[np.ndarray, str, tuple[float, float, float, float]]:
        """A grey plate on its own canvas; returns (image float32, label, plate box x, y, w, h)."""
        r = self.rng
        if kind == "id":
            label, groups = self.id_text()
            PW, PH = 220, int(220 / r.uniform(2.9, 3.4))
        else:
            label, groups = self.us_text()
            PW, PH = 180, int(180 / r.uniform(1.8, 2.2))
        font = self._font(kind)
        dark_plate = r.random() < (0.65 if kind == "id" else 0.12)
        if dark_plate:
            bg, fg = r.uniform(0, 90), r.uniform(150, 255)
        else:
            bg, fg = r.uniform(140, 255), r.uniform(0, 110)
        if r.random() < 0.15:  # low contrast (coloured characters on a coloured plate, in grey)
            fg = bg + (fg - bg) * r.uniform(0.3, 0.6)
        plate = np.full((PH, PW), bg, np.float32)
        self._background_pattern(plate, abs(fg - bg) * (0.15 if kind == "id" else 0.35))
        char_h = int(PH * (r.uniform(0.42, 0.58) if kind == "id" else r.uniform(0.42, 0.72)))
        condense = r.uniform(0.75, 1.05) if kind == "id" else r.uniform(0.55, 0.95)
        space = r.uniform(0.03, 0.2)
        gap = r.uniform(0.35, 0.9) if kind == "id" else r.uniform(0.1, 0.8)
        italic = r.uniform(-0.1, 0.15) if r.random() < 0.2 else 0.0
        max_w = int(PW * (r.uniform(0.8, 0.92) if kind == "id" else r.uniform(0.8, 0.96)))
        if kind == "id" and len(groups) > 1 and r.random() < 0.5:
            # justified, as on many real plates: region at the left, suffix at the right
            w0 = self._line(groups, char_h, font, condense, space, 0.0, italic).shape[1]
            gap = max(0.3, (max_w - w0) / (len(groups) - 1) / char_h)
        # newer Indonesian plates draw the letter O as a slashed zero (the digit 0 stays plain)
        slash = kind == "id" and r.random() < self.slashed_o_share
        line = self._line(groups, char_h, font, condense, space, gap, italic, slash)
        if line.shape[1] > max_w:
            line = cv2.resize(line, (max_w, line.shape[0]), interpolation=cv2.INTER_AREA)
        if line.shape[1] < PW * 0.35 and kind == "us":
            f = PW * 0.35 / line.shape[1]
            line = cv2.resize(line, (int(line.shape[1] * f), line.shape[0]), interpolation=cv2.INTER_LINEAR)
        # thicken or thin strokes a little
        if r.random() < 0.3:
            k = np.ones((2, 2), np.uint8)
            line = cv2.dilate(line, k) if r.random() < 0.6 else cv2.erode(line, k)
        lx = (PW - line.shape[1]) // 2 + int(r.integers(-PW // 30, PW // 30 + 1))
        if kind == "id":
            ly = int(PH * r.uniform(0.1, 0.2))
        else:
            ly = (PH - line.shape[0]) // 2 + int(r.integers(-PH // 12, PH // 12 + 1))
            ly = int(np.clip(ly, 1, PH - line.shape[0] - 1))
        self._paint(plate, line, lx, ly, fg)
        small_font = int(r.integers(0, self.n_fonts))
        if kind == "id":
            if r.random() < 0.9:  # validity line
                v = f"{int(r.integers(1, 13)):02d}.{int(r.integers(20, 32)):02d}"
                vh = max(4, int(PH * r.uniform(0.1, 0.16)))
                vl = self._line([v[:2], v[3:]] if r.random() < 0.5 else [v.replace(".", "")], vh, small_font,
                                1.0, 0.1, 0.6, 0.0)
                vy = ly + char_h + int(PH * r.uniform(0.06, 0.14))
                self._paint(plate, vl, (PW - vl.shape[1]) // 2 + int(r.integers(-10, 11)), vy, fg)
        else:
            top = ly + int(0.12 * char_h) if r.random() < 0.3 else ly  # small text may touch the characters
            sh = min(int(PH * r.uniform(0.1, 0.2)), top - 2)
            if r.random() < 0.75 and sh >= 4:  # state name above
                st = self._line(self._small_text(int(r.integers(4, 12))), sh, small_font, 1.0, 0.1, 0.5, 0)
                st = st[:, : int(PW * 0.95)]
                col = fg if r.random() < 0.5 else bg + (r.uniform(-1, 1) * 120)
                self._paint(plate, st, (PW - st.shape[1]) // 2, int(r.uniform(1, top - sh)), col)
            below = ly + line.shape[0] + 1
            sh = min(int(PH * r.uniform(0.07, 0.14)), PH - below - 2)
            if r.random() < 0.6 and sh >= 4:  # slogan / county below
                st = self._line(self._small_text(int(r.integers(5, 18))), sh, small_font, 1.0, 0.1, 0.5, 0)
                st = st[:, : int(PW * 0.95)]
                self._paint(plate, st, (PW - st.shape[1]) // 2, int(r.uniform(below, PH - sh - 1)), fg)
            for _ in range(int(r.choice([0, 0, 1, 1, 2]))):  # decoys: smaller or fainter glyphs (pictures)
                ch = str(r.choice(list(LETTERS + DIGITS)))
                dh = int(char_h * r.uniform(0.25, 0.6))
                m = self._line([ch], max(4, dh), int(r.integers(0, self.n_fonts)), 1.0, 0.1, 0.5, 0.0)
                dx = int(PW * (r.uniform(0.0, 0.1) if r.random() < 0.6 else r.uniform(0.86, 0.96)))
                dy = int(r.uniform(0, PH - m.shape[0]))
                self._paint(plate, m, dx, dy, float(r.uniform(0, 255)))
            if len(groups) > 1 and r.random() < 0.5:  # emblem between groups
                ex = lx + int(line.shape[1] * len(groups[0]) / max(1, len(label)))
                s = int(char_h * r.uniform(0.2, 0.45))
                cv2.rectangle(plate, (ex - s // 2, ly + char_h // 2 - s // 2), (ex + s // 2, ly + char_h // 2 + s // 2),
                              float(r.uniform(0, 255)), -1)
            if r.random() < 0.3:  # a sticker in a corner
                s = int(PH * r.uniform(0.15, 0.3))
                cx = int(r.choice([PW * 0.08, PW * 0.85]))
                cv2.rectangle(plate, (cx, int(PH * 0.05)), (cx + s, int(PH * 0.05) + s), float(r.uniform(0, 255)), -1)
        if r.random() < (0.8 if kind == "id" else 0.4):  # raised border
            b = int(PH * r.uniform(0.02, 0.06))
            cv2.rectangle(plate, (b, b), (PW - b, PH - b), float(fg), max(1, int(PH * r.uniform(0.01, 0.03))),
                          cv2.LINE_AA)
        if r.random() < 0.4:  # bolts
            for bx in (PW * 0.2, PW * 0.8):
                by = PH * r.choice([0.08, 0.92, 0.5 if kind == "us" else 0.08])
                cv2.circle(plate, (int(bx), int(by)), max(2, int(PH * 0.04)), float(r.uniform(0, 255)), -1)
        # vehicle around it
        CW, CH = int(PW * 1.8), int(PH * 3.0)
        canvas = np.full((CH, CW), float(r.uniform(0, 255)), np.float32)
        self._background_pattern(canvas, 80)
        for _ in range(int(r.integers(0, 8))):  # grille bars, bumper edges
            y = int(r.integers(0, CH))
            cv2.line(canvas, (0, y), (CW, y + int(r.integers(-10, 11))), float(r.uniform(0, 255)),
                     int(r.integers(1, 8)))
        px, py = (CW - PW) // 2, (CH - PH) // 2
        if kind == "us" and r.random() < 0.5:  # plate frame
            t = int(PH * r.uniform(0.05, 0.15))
            cv2.rectangle(canvas, (px - t, py - t), (px + PW + t, py + PH + int(t * r.uniform(1, 2.5))),
                          float(r.uniform(0, 255)), -1)
        canvas[py:py + PH, px:px + PW] = plate
        if kind == "us" and r.random() < 0.3:  # frame text covering the slogan
            st = self._line(self._small_text(int(r.integers(6, 16))), max(4, int(PH * 0.1)), small_font,
                            1.0, 0.1, 0.5, 0)
            self._paint(canvas, st[:, :PW], px + (PW - min(PW, st.shape[1])) // 2, py + PH - st.shape[0],
                        float(r.uniform(0, 255)))
        return canvas, label, (px, py, PW, PH)


# ----------------------------------------------------------------------------- crops and augmentation
def jittered_quad(rng: np.random.Generator, box: tuple[float, float, float, float], pad: tuple[float, float],
                  persp: float = 0.04, rot: float = 4.0) -> np.ndarray:
    """Corners (tl, tr, br, bl) of an imprecise crop around ``box``: padding up to ``pad`` (share of width,
    height) on each side, a little inward too, perspective jitter and a small rotation."""
    x, y, w, h = box
    lft = x - w * rng.uniform(-0.02, pad[0])
    rgt = x + w + w * rng.uniform(-0.02, pad[0])
    t = y - h * rng.uniform(-0.06, pad[1])
    b = y + h + h * rng.uniform(-0.06, pad[1])
    q = np.float32([[lft, t], [rgt, t], [rgt, b], [lft, b]])
    q += (rng.normal(0, 1, (4, 2)) * np.float32([w, h]) * persp).astype(np.float32)
    c = q.mean(axis=0)
    a = math.radians(rng.uniform(-rot, rot))
    R = np.float32([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return ((q - c) @ R.T + c).astype(np.float32)


def warp(img: np.ndarray, quad: np.ndarray, rng: np.random.Generator, min_scale: float = 0.35) -> np.ndarray:
    """The quad rectified to a crop whose size is random (a low-resolution camera view), grey uint8."""
    qw = float(np.linalg.norm(quad[1] - quad[0]))
    scale = rng.uniform(min_scale, 1.0) if rng.random() < 0.6 else 1.0
    ow = int(np.clip(min(qw, IN_W * 1.6) * scale, 50, IN_W * 1.6))
    oh = max(10, int(ow * float(np.linalg.norm(quad[3] - quad[0])) / max(1.0, qw)))
    dst = np.float32([[0, 0], [ow, 0], [ow, oh], [0, oh]])
    M = cv2.getPerspectiveTransform(quad, dst)
    src = img
    shrink = qw / ow
    if shrink > 1.5:  # anti-alias before shrinking
        src = cv2.GaussianBlur(img, (0, 0), 0.45 * shrink)
    out = cv2.warpPerspective(src, M, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.clip(out, 0, 255).astype(np.uint8)


def photometric(g: np.ndarray, rng: np.random.Generator, blur: float = 1.3) -> np.ndarray:
    f = g.astype(np.float32)
    if rng.random() < 0.5:
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.3, blur))
    if rng.random() < 0.7:  # contrast and brightness
        c = rng.uniform(0.35, 1.2)
        f = (f - f.mean()) * c + f.mean() + rng.uniform(-60, 60)
    if rng.random() < 0.4:  # uneven light
        h, w = f.shape
        gx = np.linspace(rng.uniform(0.6, 1.2), rng.uniform(0.6, 1.2), w)[None, :]
        gy = np.linspace(rng.uniform(0.7, 1.2), rng.uniform(0.7, 1.2), h)[:, None]
        f = f * gx * gy
    if rng.random() < 0.1:  # glare
        h, w = f.shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cx, cy, rr = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.05, 0.25) * w
        f += rng.uniform(40, 110) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * rr * rr))
    if rng.random() < 0.3:  # shadow band
        h, w = f.shape
        x0 = int(rng.uniform(0, w))
        f[:, x0:x0 + int(rng.uniform(0.1, 0.5) * w)] *= rng.uniform(0.4, 0.8)
    if rng.random() < 0.7:
        f += rng.normal(0, rng.uniform(1, 14), f.shape).astype(np.float32)
    g = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        ok, enc = cv2.imencode(".jpg", g, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 90))])
        if ok:
            g = cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE)
    return g


class RealDev:
    """The dev split's real photographs (calibration fold left out), cut around their plates.

    ``respell_share`` of the samples are *respelt*: the plate's characters, segmented by the segmenting
    reader (``harvest_segments``), are put in a new order as vertical strips of the photograph, so the network
    sees the real glyphs, blur, lighting and background of these few plates under many more labels than their
    own (a plate it has memorised no longer gives its answer away by its look). Indonesian plates may also
    take glyphs from another dev crop of the same colours (all crops are cut at one scale); letter positions
    get letters and digit positions digits, so the respelt plate still fits the grammar."""

    def __init__(self, root: Path | None, respell_share: float = 0.0,
                 items: list[tuple[np.ndarray, tuple[float, float, float, float], str, str]] | None = None,
                 respell_kinds: tuple[str, ...] = ("id", "us"), strong_aug: bool = False, id_share: float = 0.4,
                 samples: Path | None = None):
        """``items`` (grey image, plate box, label, ``"id"`` or ``"us"``) instead of reading ``root``;
        ``respell_kinds``: which kinds of plate are respelt; ``strong_aug``: the real plates are also seen at
        down to a third of their resolution, more blurred, and Indonesian ones with the colours swapped (both
        schemes exist), so that the network learns their glyphs rather than their look; ``id_share``: the share
        of the samples drawn from the Indonesian crops (they are few, so more than their number); ``samples``:
        a directory of crops a lane kept with its officers' plates (``lane/plate_samples.py``), whose dev split
        (less the calibration fold) is read as Indonesian crops too."""
        self.respell_share = respell_share
        self.id_share = id_share
        self.strong_aug = strong_aug
        self.items: list[tuple[np.ndarray, tuple[float, float, float, float], str, str]] = list(items or [])
        self.segs: list[tuple[list[tuple[float, float, float, float]], bool] | None] = []
        if root is not None:
            self._read(root)
        if samples is not None:
            from vision.datasets import labelled_crops

            for smp in labelled_crops(samples, "train"):
                self._add_id_crop(smp.path, smp.plate)
        if respell_share > 0:
            self.segs = [harvest_segments(g, box, label, kind) if kind in respell_kinds else None
                         for g, box, label, kind in self.items]
        self.respellable = [i for i, sg in enumerate(self.segs) if sg is not None]

    def _read(self, root: Path) -> None:
        from vision.datasets import id_crops, id_scenes, us_scenes

        for s in id_crops(root, "train"):  # the vehicle split's train part (vision.datasets)
            self._add_id_crop(s.path, s.plate)
        for s in id_scenes(root, "train"):  # the Indonesian street scenes' plates at their drawn boxes
            g = cv2.imread(str(s.path), cv2.IMREAD_GRAYSCALE)
            if g is None or s.bbox is None:
                continue
            x, y, w, h = s.bbox
            x0, y0 = max(0, x - w // 2), max(0, y - h)
            g = g[y0:y + 2 * h, x0:x + w + w // 2]
            self.items.append((g.copy(), (x - x0, y - y0, w, h), normalise(s.plate), "id"))
        for s in us_scenes(root, "train"):
            g = cv2.imread(str(s.path), cv2.IMREAD_GRAYSCALE)
            if g is None or s.bbox is None:
                continue
            x, y, w, h = s.bbox
            x0, y0 = max(0, x - w), max(0, y - h)
            g = g[y0:y + 2 * h, x0:x + 2 * w]
            self.items.append((g.copy(), (x - x0, y - y0, w, h), normalise(s.plate), "us"))

    def _add_id_crop(self, path: Path, plate: str) -> None:
        """An Indonesian plate crop, its border repeated around it (a crop is tight; boxes to train on are not)."""
        g = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if g is None:
            return
        h, w = g.shape
        m = (w // 6, h // 3)
        g = cv2.copyMakeBorder(g, m[1], m[1], m[0], m[0], cv2.BORDER_REPLICATE)
        self.items.append((g, (m[0], m[1], w, h), normalise(plate), "id"))

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        kind = "id" if rng.random() < self.id_share else "us"
        pool = [i for i, it in enumerate(self.items) if it[3] == kind] or list(range(len(self.items)))
        i = pool[int(rng.integers(0, len(pool)))]
        g, box, label, kind = self.items[i]
        if self.segs and self.segs[i] is not None and rng.random() < self.respell_share:
            g, box, label = self.respell(i, rng)
        pad = (0.1, 0.25) if kind == "id" else (0.15, 0.3)
        q = jittered_quad(rng, box, pad, persp=0.03, rot=4.0)
        strong = self.strong_aug
        out = warp(g.astype(np.float32), q, rng, min_scale=0.35 if strong else 0.7)
        if strong and kind == "id" and rng.random() < 0.3:
            out = 255 - out
        return photometric(out, rng, blur=1.3 if strong else 0.8), label

    def respell(self, i: int, rng: np.random.Generator
                ) -> tuple[np.ndarray, tuple[float, float, float, float], str]:
        """Item ``i`` with its characters in a new order (see the class's docstring): image, box, label."""
        g, (bx, by, bw, bh), label, kind = self.items[i]
        segs, light = self.segs[i]
        n = len(segs)
        d = 2  # a few pixels of margin around each character's strip
        donors = [j for j in self.respellable if j != i and self.items[j][3] == "id"
                  and self.segs[j][1] == light] if kind == "id" else []
        out_label = []
        parts = [g[:, :max(0, int(segs[0][0]) - d)]]
        use_donors = bool(donors) and rng.random() < 0.4
        for k in range(n):
            want_digit = label[k].isdigit()
            if use_donors and rng.random() < 0.35:
                choices = [(j, m) for j in donors for m in range(len(self.segs[j][0]))
                           if self.items[j][2][m].isdigit() == want_digit]
            else:
                choices = [(i, m) for m in range(n) if kind != "id" or label[m].isdigit() == want_digit]
            src, m = choices[int(rng.integers(0, len(choices)))]
            parts.append(self._strip(src, m, src == i, g, segs, d))
            out_label.append(self.items[src][2][m])
            if k + 1 < n:  # the plate's own gap after this position (section gaps stay where they were)
                a, b = int(segs[k][1]) + d, int(segs[k + 1][0]) - d
                if b > a:
                    parts.append(g[:, a:b])
        x_end = min(g.shape[1], int(segs[-1][1]) + d)
        parts.append(g[:, x_end:])
        img = np.hstack(parts)
        grow = img.shape[1] - g.shape[1]
        text = "".join(out_label)
        if kind == "id":  # one glyph: the position decides
            text = normalise(text)
        return img, (bx, by, max(8.0, bw + grow), bh), text

    def _strip(self, src: int, m: int, own: bool, g: np.ndarray, segs, d: int) -> np.ndarray:
        """Character ``m`` of item ``src`` as a strip the height of ``g`` with its characters' band, brightness
        and contrast (``g``, ``segs``: the receiving plate and its segments; ``own``: ``src`` is that plate)."""
        sg = self.items[src][0]
        x0, x1, _, _ = self.segs[src][0][m]
        if own:
            return g[:, max(0, int(x0) - d):int(x1) + d]
        # another crop (Indonesian, same scale): align the character bands, match the levels
        t_top = float(np.median([s[2] for s in segs]))
        t_bot = float(np.median([s[3] for s in segs]))
        s_top = float(np.median([s[2] for s in self.segs[src][0]]))
        s_bot = float(np.median([s[3] for s in self.segs[src][0]]))
        f = (t_bot - t_top) / max(1.0, s_bot - s_top)
        strip = sg[:, max(0, int(x0) - d):int(x1) + d].astype(np.float32)
        strip = cv2.resize(strip, (max(2, int(round(strip.shape[1] * f))), max(2, int(round(sg.shape[0] * f)))))
        M = np.float32([[1, 0, 0], [0, 1, t_top - s_top * f]])
        strip = cv2.warpAffine(strip, M, (strip.shape[1], g.shape[0]), borderMode=cv2.BORDER_REPLICATE)
        band_t = g[int(t_top):int(t_bot) + 1].astype(np.float32)
        band_s = strip[int(t_top):int(t_bot) + 1]
        lo_t, hi_t = np.percentile(band_t, (5, 95))
        lo_s, hi_s = np.percentile(band_s, (5, 95))
        strip = (strip - lo_s) * ((hi_t - lo_t) / max(1.0, hi_s - lo_s)) + lo_t
        # only the character band comes from the other plate: above and below it, the receiving plate's own
        # column just left of its character (its border, its background)
        a = max(0, int(t_top - 0.12 * (t_bot - t_top)))
        b = min(g.shape[0], int(t_bot + 0.12 * (t_bot - t_top)) + 1)
        col = g[:, max(0, int(segs[0][0]) - d - 1)].astype(np.float32)[:, None]
        out = np.repeat(col, strip.shape[1], axis=1)
        out[a:b] = strip[a:b]
        return np.clip(out, 0, 255).astype(g.dtype)


def harvest_segments(g: np.ndarray, box: tuple[float, float, float, float], label: str, kind: str
                     ) -> tuple[list[tuple[float, float, float, float]], bool] | None:
    """The characters of a real plate, (x0, x1, y0, y1) in ``g``'s pixels left to right, and whether they
    are light on dark, from the segmenting reader; ``None`` unless it finds exactly ``len(label)`` clean,
    separate characters whose reading agrees with the label but for at most one character."""
    from vision.grammar import canonical
    from vision.reader import PlateReader

    x, y, w, h = (int(round(v)) for v in box)
    mx, my = (0, 0) if kind == "id" else (int(0.1 * w), int(0.2 * h))
    ox, oy = max(0, x - mx), max(0, y - my)
    crop = g[oy:y + h + my, ox:x + w + mx]
    if crop.size == 0:
        return None
    fmt = "id" if kind == "id" else "generic"
    for boxes, light, plate in PlateReader(fmt).segment_boxes(crop):
        if len(boxes) != len(label) or not plate:
            continue
        if any(a[0] + a[2] > b[0] for a, b in zip(boxes, boxes[1:], strict=False)):  # overlapping
            continue
        if any(bw > 1.3 * bh for _, _, bw, bh in boxes):  # two characters in one
            continue
        read = canonical(plate, fmt)
        if len(read) != len(label) or sum(p != q for p, q in zip(read, canonical(label, fmt), strict=True)) > 1:
            continue
        segs = [(ox + bx, ox + bx + bw, oy + by, oy + by + bh) for bx, by, bw, bh in boxes]
        return segs, light
    return None


def synth_sample(synth: Synth, rng: np.random.Generator, id_share: float = 0.5) -> tuple[np.ndarray, str]:
    """A synthetic training crop and its label: 4 % a piece of vehicle without a plate, then Indonesian
    plates up to ``id_share`` of the draws, US-style ones after."""
    k = rng.random()
    if k < 0.04:  # no plate: a piece of the vehicle
        canvas, _, (px, py, pw, ph) = synth.plate("us")
        q = jittered_quad(rng, (0, 0, pw, ph * 0.8), (0.1, 0.1))
        q += np.float32([rng.uniform(0, canvas.shape[1] - pw), rng.uniform(0, py * 0.5)])
        return photometric(warp(canvas, q, rng), rng), ""
    kind = "id" if k < id_share else "us"
    canvas, label, box = synth.plate(kind)
    pad = (0.12, 0.3)  # a detector's box is often generous, above all in height
    q = jittered_quad(rng, box, pad)
    return photometric(warp(canvas, q, rng), rng), label


# ----------------------------------------------------------------------------- model
def build_model(channels: tuple[int, ...] | None = None, seq: int | None = None):
    """The CRNN; ``channels`` (five convolutions) and ``seq`` (the column convolutions) default to the
    shipped network's widths (``vision.recognizer.CHANNELS``, ``SEQ``). The runtime reads any widths from
    the exported file."""
    import torch.nn as nn

    from vision.recognizer import CHANNELS, SEQ

    c1, c2, c3, c4, c5 = channels or CHANNELS
    sw = seq or SEQ

    def block(i, o, k=3, p=1):
        return [nn.Conv2d(i, o, k, padding=p, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

    class CRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.cnn = nn.Sequential(
                *block(1, c1), nn.MaxPool2d(2),
                *block(c1, c2), nn.MaxPool2d(2),
                *block(c2, c3),
                *block(c3, c4), nn.MaxPool2d((2, 1)),
                *block(c4, c5, k=(IN_H // 8, 1), p=0),
            )
            self.seq1 = nn.Sequential(nn.Conv1d(c5, sw, 3, padding=1, bias=False), nn.BatchNorm1d(sw),
                                      nn.ReLU(inplace=True))
            self.seq2 = nn.Sequential(nn.Conv1d(sw, sw, 3, padding=1, bias=False), nn.BatchNorm1d(sw),
                                      nn.ReLU(inplace=True))
            self.drop = nn.Dropout(0.15)
            self.head = nn.Conv1d(sw, len(CLASSES) + 1, 1)

        def forward(self, x):  # x: (N, 1, H, W) -> (N, T, C) logits
            f = self.cnn(x).squeeze(2)
            f = self.seq1(f)
            f = f + self.seq2(f)
            return self.head(self.drop(f)).transpose(1, 2)

    return CRNN()


def export(model, path: Path) -> None:
    """Fold batch norm into the preceding convolution and save numpy arrays."""
    import torch.nn as nn

    convs: list[tuple[np.ndarray, np.ndarray]] = []
    mods = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Conv1d, nn.BatchNorm2d, nn.BatchNorm1d))]
    i = 0
    while i < len(mods):
        m = mods[i]
        W = m.weight.detach().double().numpy()
        b = m.bias.detach().double().numpy() if m.bias is not None else np.zeros(W.shape[0])
        if i + 1 < len(mods) and isinstance(mods[i + 1], (nn.BatchNorm2d, nn.BatchNorm1d)):
            bn = mods[i + 1]
            s = bn.weight.detach().double().numpy() / np.sqrt(bn.running_var.double().numpy() + bn.eps)
            W = W * s.reshape(-1, *([1] * (W.ndim - 1)))
            b = (b - bn.running_mean.double().numpy()) * s + bn.bias.detach().double().numpy()
            i += 2
        else:
            i += 1
        convs.append((W.astype(np.float32), b.astype(np.float32)))
    arrays = {}
    for k, (W, b) in enumerate(convs):
        arrays[f"w{k}"] = W
        arrays[f"b{k}"] = b
    np.savez_compressed(path, **arrays)


def export_onnx(npz_path: Path, onnx_path: Path | None = None) -> Path:
    """Write the exported (folded) network as ONNX for ``cv2.dnn`` (``vision.recognizer.Recognizer``
    runs it when it lies beside the ``.npz``). The 1-D convolutions along the columns become 2-D ones of
    height 1; the output is the softmax over classes, (N, 37, 1, T). Needs the ``onnx`` package (training
    extra) only here."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    onnx_path = onnx_path or npz_path.with_suffix(".onnx")
    d = np.load(npz_path)
    nodes, inits = [], []

    def conv(x: str, k: int, pads: list[int], relu: bool = True) -> str:
        w = d[f"w{k}"].astype(np.float32)
        if w.ndim == 3:
            w = w[:, :, None, :]
        inits.extend([numpy_helper.from_array(w, f"w{k}"),
                      numpy_helper.from_array(d[f"b{k}"].astype(np.float32), f"b{k}")])
        out = f"conv{k}"
        nodes.append(helper.make_node("Conv", [x, f"w{k}", f"b{k}"], [out], kernel_shape=list(w.shape[2:]), pads=pads))
        if relu:
            nodes.append(helper.make_node("Relu", [out], [out + "_relu"]))
            out += "_relu"
        return out

    def pool(x: str, k: list[int]) -> str:
        nodes.append(helper.make_node("MaxPool", [x], [x + "_pool"], kernel_shape=k, strides=k))
        return x + "_pool"

    same, none, cols = [1, 1, 1, 1], [0, 0, 0, 0], [0, 1, 0, 1]
    x = pool(conv("input", 0, same), [2, 2])
    x = pool(conv(x, 1, same), [2, 2])
    x = pool(conv(conv(x, 2, same), 3, same), [2, 1])
    f = conv(conv(x, 4, none), 5, cols)
    nodes.append(helper.make_node("Add", [f, conv(f, 6, cols)], ["context"]))
    nodes.append(helper.make_node("Softmax", [conv("context", 7, none, relu=False)], ["probs"], axis=1))
    graph = helper.make_graph(nodes, "plate_recogniser",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, IN_H, IN_W])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", len(CLASSES) + 1, 1, "T"])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(onnx_path))
    return onnx_path


def export_widths(path: Path) -> tuple[tuple[int, ...], int]:
    """The widths (``build_model``'s ``channels``, ``seq``) of an exported network."""
    d = np.load(path)
    return tuple(int(d[f"w{k}"].shape[0]) for k in range(5)), int(d["w5"].shape[0])


def init_from_export(model, path: Path, x) -> None:
    """Start from an exported model (``export``'s folded weights): each convolution takes the folded
    weights, and its batch norm is set so that it passes ``conv(x) + b`` through unchanged, both in training
    (statistics measured on the batch ``x``) and in evaluation. Fine-tuning then continues from the shipped
    model instead of from scratch."""
    import torch
    import torch.nn as nn

    arrays = np.load(path)
    mods = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Conv1d, nn.BatchNorm2d, nn.BatchNorm1d))]
    hooks, k, i = [], 0, 0
    with torch.no_grad():
        while i < len(mods):
            conv = mods[i]
            conv.weight.copy_(torch.from_numpy(arrays[f"w{k}"]))
            b = torch.from_numpy(arrays[f"b{k}"])
            if i + 1 < len(mods) and isinstance(mods[i + 1], (nn.BatchNorm2d, nn.BatchNorm1d)):
                bn = mods[i + 1]

                def pre(module, inputs, b=b):
                    z = inputs[0]
                    dims = [0, 2, 3] if z.dim() == 4 else [0, 2]
                    mu, var = z.mean(dims), z.var(dims, unbiased=False)
                    module.weight.copy_(torch.sqrt(var + module.eps))
                    module.bias.copy_(mu + b)
                    module.running_mean.copy_(mu)
                    module.running_var.copy_(var)

                hooks.append(bn.register_forward_pre_hook(pre))
                i += 2
            else:
                conv.bias.copy_(b)
                i += 1
            k += 1
        model.eval()  # statistics are set by the hooks; eval keeps running stats from being blended
        model(x)
    for h in hooks:
        h.remove()


def _batch(synth: Synth, real: RealDev | None, rng: np.random.Generator, n: int, real_share: float,
           id_share: float = 0.5):
    import torch

    xs, labels = [], []
    for _ in range(n):
        if real is not None and real.items and rng.random() < real_share:
            g, lab = real.sample(rng)
        else:
            g, lab = synth_sample(synth, rng, id_share)
        xs.append(preprocess(g))
        labels.append(lab)
    x = torch.from_numpy(np.stack(xs)[:, None])
    targets = torch.tensor([CLASSES.index(c) + 1 for lab in labels for c in lab], dtype=torch.long)
    lengths = torch.tensor([len(lab) for lab in labels], dtype=torch.long)
    return x, targets, lengths, labels


def main(argv: list[str] | None = None) -> int:
    import torch

    from vision.recognizer import Recognizer
    from vision.train import extra_font_dir

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", type=Path, default=None, help="shared datasets directory (the train part of the split by vehicle used)")
    ap.add_argument("--samples", type=Path, default=None,
                    help="also the dev split of the plate crops a lane kept (its plate_samples_dir)")
    ap.add_argument("--minutes", type=float, default=22.0, help="training time budget")
    ap.add_argument("--steps", type=int, default=0,
                    help="number of batches (the schedule follows steps; default: follow the time budget)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--real-share", type=float, default=0.3)
    ap.add_argument("--respell-share", type=float, default=0.0,
                    help="share of the real samples respelt (their characters in a new order, RealDev)")
    ap.add_argument("--respell-kinds", type=str, default="id,us", help="which real plates may be respelt: id, us")
    ap.add_argument("--real-aug", choices=("mild", "strong"), default="mild",
                    help="augmentation of the real plates (RealDev strong_aug)")
    ap.add_argument("--id-share", type=float, default=0.5,
                    help="synthetic samples that are Indonesian plates (of all draws, the first 0.04 being no "
                         "plate); e.g. 0.85 for the id network, 0.15 for the common one")
    ap.add_argument("--real-id-share", type=float, default=0.4,
                    help="real samples drawn from the Indonesian crops rather than the US plates")
    ap.add_argument("--out", type=Path, default=MODEL_PATH,
                    help="the exported network (vision/data/recognizer_id.npz: the id format's own)")
    ap.add_argument("--init", type=Path, default=None, help="continue from a torch state dict")
    ap.add_argument("--init-export", type=Path, default=None,
                    help="continue from an exported model (e.g. the shipped vision/data/recognizer.npz)")
    ap.add_argument("--threads", type=int, default=1, help="PyTorch threads")
    ap.add_argument("--channels", type=str, default=None,
                    help="widths of the five convolutions, e.g. 24,48,72,96,144 (default: the shipped widths)")
    ap.add_argument("--seq", type=int, default=None, help="width of the column convolutions")
    ap.add_argument("--extra-fonts", action="store_true",
                    help="also draw plates in the faces fetched by python -m vision.fetch_fonts")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    cv2.setNumThreads(1)
    from vision.datasets import default_root

    root = args.datasets or default_root()
    kinds = tuple(k for k in args.respell_kinds.split(",") if k)
    if not set(kinds) <= {"id", "us"}:
        ap.error(f"--respell-kinds takes id and/or us, got {args.respell_kinds!r}")
    if not (0.04 <= args.id_share <= 1.0 and 0.0 <= args.real_id_share <= 1.0):
        ap.error("--id-share takes 0.04 to 1 and --real-id-share 0 to 1")
    if args.samples is not None and not (args.samples / "labels.tsv").is_file():
        ap.error(f"--samples: no labels.tsv in {args.samples}")
    real = (RealDev(root if (root / "plates").is_dir() else None, args.respell_share, respell_kinds=kinds,
                    strong_aug=args.real_aug == "strong", id_share=args.real_id_share, samples=args.samples)
            if (root / "plates").is_dir() or args.samples is not None else None)
    print(f"real dev plates for training: {0 if real is None else len(real.items)}"
          + (f", {len(real.respellable)} respellable" if real is not None and args.respell_share else ""))
    synth = Synth(rng, extra_fonts=args.extra_fonts)
    if args.extra_fonts:
        print(f"extra faces: {len(synth.extra_fonts)} (from {extra_font_dir()})")
        if not synth.extra_fonts:
            ap.error("--extra-fonts: no faces found; fetch them with python -m vision.fetch_fonts")
    channels = None
    if args.channels:
        try:
            channels = tuple(int(c) for c in args.channels.split(","))
        except ValueError:
            channels = ()
        if len(channels) != 5 or min(channels) < 1:
            ap.error(f"--channels wants five positive widths separated by commas, got {args.channels!r}")
    if args.seq is not None and args.seq < 1:
        ap.error(f"--seq wants a positive width, got {args.seq}")
    seq = args.seq
    if args.init_export and channels is None and seq is None:  # fine-tuning keeps the file's widths
        channels, seq = export_widths(args.init_export)
    model = build_model(channels, seq)
    if args.init:
        model.load_state_dict(torch.load(args.init))
    if args.init_export:
        x0, *_ = _batch(synth, real, np.random.default_rng(args.seed + 1), 256, args.real_share, args.id_share)
        init_from_export(model, args.init_export, x0)
        with torch.no_grad():
            ref = Recognizer(args.init_export).probs(x0[:16, 0].numpy())
            got = torch.softmax(model(x0[:16]), 2).numpy()
        print(f"initialised from {args.init_export}: max prob diff {float(np.abs(ref - got).max()):.2e}")
    n_params = sum(p.numel() for p in model.parameters())
    print(f"parameters: {n_params}")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    budget = args.minutes * 60
    t0 = time.time()
    step = 0
    ema = None
    # fixed synthetic validation batch
    vrng = np.random.default_rng(12345)
    val = [synth_sample(synth, vrng) for _ in range(300)]
    while True:
        el = time.time() - t0
        frac = step / args.steps if args.steps else el / budget
        if frac >= 1.0 or el > (3 * budget if args.steps else budget):
            break
        lr = args.lr * (min(1.0, step / 300) * 0.5 * (1 + math.cos(math.pi * frac)))
        for gp in opt.param_groups:
            gp["lr"] = lr
        model.train()
        x, targets, lengths, _ = _batch(synth, real, rng, args.batch, args.real_share, args.id_share)
        logits = model(x)  # N, T, C
        lp = logits.log_softmax(2).transpose(0, 1)  # T, N, C
        T = lp.shape[0]
        loss = ctc(lp, targets, torch.full((x.shape[0],), T, dtype=torch.long), lengths)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        step += 1
        if step % 200 == 0:
            model.eval()
            with torch.no_grad():
                vx = torch.from_numpy(np.stack([preprocess(g) for g, _ in val])[:, None])
                pred = model(vx).argmax(2).numpy()
            ok = 0
            for p, (_, lab) in zip(pred, val, strict=True):
                s, prev = [], 0
                for k in p:
                    if k != prev and k != 0:
                        s.append(CLASSES[k - 1])
                    prev = k
                ok += "".join(s) == lab
            print(f"step {step} {el / 60:.1f} min lr {lr:.5f} loss {ema:.3f} synth-val exact {ok / len(val):.3f}",
                  flush=True)
            torch.save(model.state_dict(), args.out.with_suffix(".pt.tmp"))
    model.eval()
    torch.save(model.state_dict(), args.out.with_suffix(".pt.tmp"))
    export(model, args.out)
    # the numpy forward pass must equal torch's
    with torch.no_grad():
        vx = np.stack([preprocess(g) for g, _ in val[:16]])[:, None]
        ref = torch.log_softmax(model(torch.from_numpy(vx)), 2).numpy()
    got = np.log(Recognizer(args.out, use_dnn=False).probs(vx[:, 0]) + 1e-30)
    err = float(np.abs(np.exp(ref) - np.exp(got)).max())
    print(f"exported {args.out} ({args.out.stat().st_size / 1024:.0f} KiB); numpy vs torch max prob diff {err:.2e}")
    onnx_path = export_onnx(args.out)
    err_dnn = float(np.abs(Recognizer(args.out).probs(vx[:, 0]) - np.exp(ref)).max())
    print(f"exported {onnx_path}; cv2.dnn vs torch max prob diff {err_dnn:.2e}")
    return 0 if max(err, err_dnn) < 1e-3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
