"""Character classifier: HOG + down-sampled pixels into a small MLP (numpy inference only).

The weights are trained by ``python -m vision.train`` and shipped as ``vision/data/chars.npz``.
Classes are ``grammar.CLASSES`` (0-9, A-Z) plus a last ``junk`` class (not a character).
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from vision.grammar import CLASSES
from vision.models import site_file

PATCH_W, PATCH_H = 24, 32
N_CLASSES = len(CLASSES) + 1  # + junk
JUNK = len(CLASSES)
MODEL_PATH = Path(__file__).with_name("data") / "chars.npz"

_CELL = 4
_BINS = 9


def _hog(patch: np.ndarray) -> np.ndarray:
    """Histogram of oriented gradients (4x4 cells, 9 unsigned bins, 2x2-cell block normalisation).

    Written with numpy because OpenCV 5 moved HOGDescriptor out of the main package. This per-patch form
    is what the classifier is trained on (``features``); the reader computes the same numbers for all
    patches at once with :func:`_hog_batch`, tested equal to this one.
    """
    f = patch.astype(np.float32)
    gx = cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=1)
    gy = cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=1)
    mag = np.sqrt(gx * gx + gy * gy)
    ang = (np.arctan2(gy, gx) % np.pi) * (_BINS / np.pi)
    b0 = np.floor(ang).astype(np.int32) % _BINS
    w1 = ang - np.floor(ang)
    b1 = (b0 + 1) % _BINS
    bins = np.arange(_BINS, dtype=np.int32)
    hist = ((b0[..., None] == bins) * (mag * (1 - w1))[..., None]
            + (b1[..., None] == bins) * (mag * w1)[..., None]).astype(np.float32)
    cells = hist.reshape(PATCH_H // _CELL, _CELL, PATCH_W // _CELL, _CELL, _BINS).sum(axis=(1, 3))
    ch, cw = cells.shape[:2]
    blocks = cells.reshape(ch // 2, 2, cw // 2, 2, _BINS).transpose(0, 2, 1, 3, 4).reshape(ch // 2, cw // 2, -1)
    blocks = blocks / (np.linalg.norm(blocks, axis=2, keepdims=True) + 1e-3)
    return np.sqrt(np.minimum(blocks, 0.3)).ravel()


def _hog_batch(patches: np.ndarray) -> np.ndarray:
    """:func:`_hog` of ``n`` patches at once (n, PATCH_H, PATCH_W) -> (n, features): the same numbers,
    without a Python-level pass per patch (the segmenting reader classifies ~17 patches a frame).

    Gradients as ``cv2.Sobel(ksize=1)`` takes them: central differences, mirrored at the border
    (BORDER_REFLECT_101, numpy's ``reflect``)."""
    f = patches.astype(np.float32)
    p = np.pad(f, ((0, 0), (1, 1), (1, 1)), mode="reflect")
    gx = p[:, 1:-1, 2:] - p[:, 1:-1, :-2]
    gy = p[:, 2:, 1:-1] - p[:, :-2, 1:-1]
    mag = np.sqrt(gx * gx + gy * gy)
    ang = (np.arctan2(gy, gx) % np.pi) * (_BINS / np.pi)
    fl = np.floor(ang)
    b0 = fl.astype(np.int32) % _BINS
    w1 = ang - fl
    b1 = (b0 + 1) % _BINS
    n = f.shape[0]
    # one histogram per cell: scatter both bin shares into (n, cells_y, cells_x, bins)
    cy = np.arange(PATCH_H)[:, None] // _CELL
    cx = np.arange(PATCH_W)[None, :] // _CELL
    ch, cw = PATCH_H // _CELL, PATCH_W // _CELL
    cell = np.broadcast_to(cy * cw + cx, (n, PATCH_H, PATCH_W))
    base = (np.arange(n)[:, None, None] * (ch * cw) + cell) * _BINS
    hist = np.bincount((base + b0).ravel(), (mag * (1 - w1)).ravel(), n * ch * cw * _BINS)
    hist += np.bincount((base + b1).ravel(), (mag * w1).ravel(), n * ch * cw * _BINS)
    cells = hist.astype(np.float32).reshape(n, ch, cw, _BINS)
    blocks = cells.reshape(n, ch // 2, 2, cw // 2, 2, _BINS).transpose(0, 1, 3, 2, 4, 5).reshape(n, ch // 2, cw // 2, -1)
    blocks = blocks / (np.linalg.norm(blocks, axis=3, keepdims=True) + 1e-3)
    return np.sqrt(np.minimum(blocks, 0.3)).reshape(n, -1)


def fast_percentiles(g: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """Two percentiles of a small uint8 image by partial sort (np.percentile is slow on tiny arrays)."""
    flat = g.ravel()
    n = flat.size
    i, j = int(lo * (n - 1)), int(hi * (n - 1))
    part = np.partition(flat, (i, j))
    return float(part[i]), float(part[j])


def normalise_patch(gray: np.ndarray, light_on_dark: bool) -> np.ndarray:
    """A character crop (tight around the ink) to a PATCH_H x PATCH_W dark-on-light uint8 patch.

    The aspect ratio is kept (narrow glyphs like 1 and I stay narrow) and contrast is stretched.
    """
    g = gray if gray.dtype == np.uint8 else np.clip(gray, 0, 255).astype(np.uint8)
    if light_on_dark:
        g = 255 - g
    h, w = g.shape[:2]
    if h < 2 or w < 1:
        return np.full((PATCH_H, PATCH_W), 255, np.uint8)
    lo, hi = fast_percentiles(g, 0.03, 0.97)
    if hi - lo < 8:
        hi = lo + 8
    g = np.minimum(np.maximum((g.astype(np.float32) - lo) * (255.0 / (hi - lo)), 0), 255).astype(np.uint8)
    inner_h = PATCH_H - 4
    scale = inner_h / h
    nw = max(1, min(PATCH_W - 2, int(round(w * scale))))
    r = cv2.resize(g, (nw, inner_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    out = np.full((PATCH_H, PATCH_W), 255, np.uint8)
    x0 = (PATCH_W - nw) // 2
    out[2: 2 + inner_h, x0: x0 + nw] = r
    return out


def features(patch: np.ndarray) -> np.ndarray:
    """Feature vector of one normalised patch (float32)."""
    hog = _hog(patch)
    small = cv2.resize(patch, (12, 16), interpolation=cv2.INTER_AREA).astype(np.float32).ravel() / 255.0
    return np.concatenate([hog, small - 0.5]).astype(np.float32)


def features_batch(patches: list[np.ndarray]) -> np.ndarray:
    """:func:`features` of many patches, computed together."""
    if not patches:
        return np.zeros((0, feature_dim()), np.float32)
    stack = np.stack(patches)
    small = np.stack([cv2.resize(p, (12, 16), interpolation=cv2.INTER_AREA) for p in patches])
    small = small.astype(np.float32).reshape(len(patches), -1) / 255.0
    return np.concatenate([_hog_batch(stack), small - 0.5], axis=1).astype(np.float32)


def feature_dim() -> int:
    return features(np.full((PATCH_H, PATCH_W), 255, np.uint8)).shape[0]


class CharClassifier:
    """Two-layer MLP; ``predict_proba(X)`` gives (n, N_CLASSES) softmax probabilities."""

    def __init__(self, params: dict[str, np.ndarray]):
        self.mu = params["mu"].astype(np.float32)
        self.sd = params["sd"].astype(np.float32)
        self.W1 = params["W1"].astype(np.float32)
        self.b1 = params["b1"].astype(np.float32)
        self.W2 = params["W2"].astype(np.float32)
        self.b2 = params["b2"].astype(np.float32)
        self.temperature = float(params.get("temperature", np.float32(1.0)))

    @classmethod
    def load(cls, path: Path | str = MODEL_PATH) -> CharClassifier:
        with np.load(path) as z:
            return cls({k: z[k] for k in z.files})

    def logits(self, X: np.ndarray) -> np.ndarray:
        Xn = (X - self.mu) / self.sd
        h = np.maximum(Xn @ self.W1 + self.b1, 0.0)
        return h @ self.W2 + self.b2

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros((0, N_CLASSES), np.float32)
        z = self.logits(X) / self.temperature
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


_model: CharClassifier | None = None
_lock = threading.Lock()


def get_classifier() -> CharClassifier:
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                path = site_file(MODEL_PATH.name) or MODEL_PATH  # a site's own (vision.models) first
                if not path.exists():
                    raise FileNotFoundError(
                        f"character model {path} is missing: run `python -m vision.train`")
                _model = CharClassifier.load(path)
    return _model
