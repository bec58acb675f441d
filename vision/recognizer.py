"""Segmentation-free plate recogniser: a small CRNN scored column by column (CTC), run in numpy.

A grey plate crop is resized to ``IN_H`` x ``IN_W`` and standardised; five 2-D convolutions (3x3, batch
norm folded in at export, ReLU, max pooling) give ``IN_W / 4`` column features, two 1-D convolutions along
the columns add context, and a linear layer scores, for each column, the 36 characters of
``vision.grammar.CLASSES`` plus the CTC blank. ``decode`` takes the best class per column, merges repeats and
drops blanks (greedy CTC; a doubled character that the best path loses is read twice when that is the
likelier labelling, ``split_merged_repeats``), and returns for each character the class distribution of its most confident
column, which ``vision.grammar.decode`` turns into a plate the format accepts.

Trained by ``vision.train_recognizer`` (PyTorch, training only); the weights are in
``vision/data/recognizer.npz`` and, for Indonesian plates (format ``id``, the lane's), in
``vision/data/recognizer_id.npz`` (``model_path``): like OpenALPR's per-country character data, each plate
format may have its own network, because what is learned for one country's font (the slashed O of newer
Indonesian plates) was measured to cost the other's. No characters are segmented, so touching or broken characters, the validity
line, bolts and frames are handled by what the network learned.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vision.grammar import CLASSES
from vision.models import site_file
from vision.onnx_net import OnnxNet

__all__ = ["ID_MODEL_PATH", "IN_H", "IN_W", "MODEL_PATH", "Recognizer", "Recognition", "get_recognizer",
           "model_path", "preprocess"]

IN_H, IN_W = 32, 128
CHANNELS = (16, 32, 48, 64, 96)
SEQ = 96
MODEL_PATH = Path(__file__).with_name("data") / "recognizer.npz"
ID_MODEL_PATH = MODEL_PATH.with_name("recognizer_id.npz")


def preprocess(gray: np.ndarray) -> np.ndarray:
    """Grey crop (any size) -> float32 (IN_H, IN_W), zero mean and unit spread."""
    h, w = gray.shape[:2]
    interp = cv2.INTER_AREA if w > IN_W or h > IN_H else cv2.INTER_LINEAR
    x = cv2.resize(gray, (IN_W, IN_H), interpolation=interp).astype(np.float32)
    m = float(x.mean())
    s = float(x.std())
    return (x - m) / max(s, 8.0)


@dataclass
class Recognition:
    text: str  # greedy CTC string (classes as read, no grammar)
    char_probs: np.ndarray  # (n, 36) class distribution of each character (blank removed, renormalised)
    char_conf: np.ndarray  # (n,) probability of each chosen character at its best column
    gap_conf: float  # lowest blank probability between characters (a missed character lowers it)
    columns: list[int]  # best column of each character


def _conv3x3(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x (N, H, W, C) -> (N, H, W, O), padding 1; w (O, C, 3, 3)."""
    n, h, wd, c = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    cols = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))  # N, H, W, C, 3, 3
    cols = cols.reshape(n * h * wd, c * 9)
    out = cols @ w.reshape(w.shape[0], -1).T
    out += b
    return out.reshape(n, h, wd, -1)


def _conv1d(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x (N, T, C) -> (N, T, O); w (O, C, k), padding k // 2."""
    n, t, c = x.shape
    k = w.shape[2]
    if k == 1:
        return x @ w[:, :, 0].T + b
    xp = np.pad(x, ((0, 0), (k // 2, k // 2), (0, 0)))
    cols = np.lib.stride_tricks.sliding_window_view(xp, k, axis=1)  # N, T, C, k
    out = cols.reshape(n * t, c * k) @ w.reshape(w.shape[0], -1).T + b
    return out.reshape(n, t, -1)


def _pool(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """Max pooling (ph, pw in {1, 2}) of x (N, H, W, C); pairwise maxima of strided views (fast in numpy)."""
    if ph == 2:
        x = np.maximum(x[:, 0::2], x[:, 1::2])
    if pw == 2:
        x = np.maximum(x[:, :, 0::2], x[:, :, 1::2])
    return x


class Recognizer:
    """The recogniser's forward pass. The weights are ``path`` (numpy arrays, the reference); the same
    network as ONNX beside it (``recognizer.onnx``, written by ``vision.train_recognizer.export_onnx``) runs
    on ``vision.onnx_net.OnnxNet`` (onnxruntime or ``cv2.dnn``) when present, two to four times as fast as
    numpy on one core. ``use_dnn=False`` forces numpy."""

    def __init__(self, path: Path | str = MODEL_PATH, use_dnn: bool = True):
        path = Path(path)
        self.path = path
        d = np.load(path)
        k = 0
        self.layers: list[tuple[np.ndarray, np.ndarray]] = []
        while f"w{k}" in d:
            self.layers.append((d[f"w{k}"].astype(np.float32), d[f"b{k}"].astype(np.float32)))
            k += 1
        if len(self.layers) != 8:
            raise ValueError(f"{path}: expected 8 layers, found {len(self.layers)}")
        self._net: OnnxNet | None = None
        onnx_path = path.with_suffix(".onnx")
        if use_dnn and onnx_path.exists():
            self._net = OnnxNet(onnx_path)

    @property
    def uses_dnn(self) -> bool:
        return self._net is not None

    def probs(self, x: np.ndarray) -> np.ndarray:
        """x (N, IN_H, IN_W) preprocessed -> (N, T, 37) column probabilities (index 0 = blank)."""
        if self._net is not None:
            out = self._net.run(np.ascontiguousarray(x[:, None], dtype=np.float32))  # (N, 37, 1, T)
            return np.ascontiguousarray(out[:, :, 0, :].transpose(0, 2, 1))
        return self.probs_numpy(x)

    def probs_numpy(self, x: np.ndarray) -> np.ndarray:
        """The forward pass in numpy (the reference the ONNX file is checked against)."""
        L = self.layers
        f = x[..., None].astype(np.float32)
        f = _pool(np.maximum(_conv3x3(f, *L[0]), 0), 2, 2)
        f = _pool(np.maximum(_conv3x3(f, *L[1]), 0), 2, 2)
        f = np.maximum(_conv3x3(f, *L[2]), 0)
        f = _pool(np.maximum(_conv3x3(f, *L[3]), 0), 2, 1)
        # height-collapsing convolution: kernel (H', 1)
        w, b = L[4]
        n, h, t, c = f.shape
        wm = w[:, :, :, 0].transpose(0, 2, 1).reshape(w.shape[0], -1)  # (O, H' * C)
        f = np.maximum(f.transpose(0, 2, 1, 3).reshape(n, t, h * c) @ wm.T + b, 0)
        f = np.maximum(_conv1d(f, *L[5]), 0)
        f = f + np.maximum(_conv1d(f, *L[6]), 0)
        z = _conv1d(f, *L[7])
        z -= z.max(axis=2, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=2, keepdims=True)

    def recognise(self, grays: list[np.ndarray]) -> list[Recognition]:
        if not grays:
            return []
        x = np.stack([preprocess(g) for g in grays])
        return [decode(p) for p in self.probs(x)]


def decode(p: np.ndarray) -> Recognition:
    """CTC decoding of one crop's column probabilities (T, 37): the best class per column, repeats merged
    and blanks dropped (greedy), then ``split_merged_repeats``: a doubled character (``WW``) whose second
    one the best path loses is read twice when that labelling is the more probable one."""
    best = p.argmax(axis=1)
    chars: list[int] = []
    cols: list[int] = []
    prev = 0
    for t, k in enumerate(best):
        if k != 0 and k != prev:
            chars.append(int(k))
            cols.append(t)
        elif k != 0 and k == prev and p[t, k] > p[cols[-1], k]:
            cols[-1] = t
        prev = k
    blank_cols = best == 0
    gap = float(p[blank_cols, 0].min()) if blank_cols.any() else 1.0
    split = split_merged_repeats(p, chars)
    if split != chars:
        chars = split
        cols, blanks = ctc_align(p, chars)
        gap = float(p[blanks, 0].min()) if blanks else 1.0
    n = len(chars)
    cp = np.zeros((n, len(CLASSES)), np.float64)
    conf = np.zeros(n, np.float64)
    for i, (k, t) in enumerate(zip(chars, cols, strict=True)):
        v = p[t, 1:].astype(np.float64)
        cp[i] = v / max(1e-12, v.sum())
        conf[i] = p[t, k]
    return Recognition("".join(CLASSES[k - 1] for k in chars), cp, conf, gap, cols)


_REPEAT_EVIDENCE = 0.2  # a character this likely again in a later column may be a lost second one
_BLANK_EVIDENCE = 0.05  # a blank this likely inside a character's run of columns may part two of them


def _lattice(label: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The CTC lattice of a labelling: its classes with a blank before, between and after them, and where a
    path may jump over a blank (between two different characters, never between two equal ones)."""
    ext = np.zeros(2 * len(label) + 1, np.int64)
    ext[1::2] = label
    skip = np.zeros(len(ext), bool)
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    return ext, skip


def ctc_log_likelihood(p: np.ndarray, label: list[int]) -> float:
    """log P(label | columns) summed over every CTC path (the forward algorithm, scaled per column)."""
    ext, skip = _lattice(label)
    S = len(ext)
    a = np.zeros(S)
    a[:2] = p[0, ext[:2]]
    log_scale = 0.0
    for t in range(1, p.shape[0]):
        nxt = a.copy()
        nxt[1:] += a[:-1]
        nxt[2:] += np.where(skip[2:], a[:-2], 0.0)
        a = nxt * p[t, ext]
        c = a.sum()
        if c <= 0:
            return -np.inf
        a /= c
        log_scale += np.log(c)
    end = a[-1] + (a[-2] if S > 1 else 0.0)
    return float(log_scale + np.log(max(end, 1e-300)))


def split_merged_repeats(p: np.ndarray, chars: list[int]) -> list[int]:
    """Greedy decoding reads the best path, not the likeliest labelling, and loses the second of two equal
    neighbours (``CWW2245`` read ``CW2245``) when its column's best class is the blank, or when its peak
    merges with the first one's. For each character that is likely again in a column between it and the
    next character (``_REPEAT_EVIDENCE``), or whose run of columns has some blank inside
    (``_BLANK_EVIDENCE``), the labelling with the character doubled is compared with
    greedy's by their CTC likelihood (the sum over all paths); the likelier is kept. Only doubled
    characters inside the plate are considered: on the held-out dev photographs a full prefix beam search
    also added characters at the plate's ends (bolts, frame edges) and lost as many plates as it gained,
    and inserting any likely character between two others gained nothing over doubling."""
    best = p.argmax(axis=1)
    starts = [int(t) for t in np.nonzero(np.diff(np.r_[0, best]) != 0)[0] if best[t] != 0]  # one a char
    candidates = []
    for i in range(len(chars) - 1):  # not the last character: nothing is added at the plate's ends
        k, a, b = chars[i], starts[i], starts[i + 1]
        run_end = a
        while run_end < b and best[run_end] == k:
            run_end += 1
        merged = (p[a + 1:run_end - 1, 0] > _BLANK_EVIDENCE).any()  # two peaks, a weak blank between
        if merged or (p[run_end:b, k] > _REPEAT_EVIDENCE).any():
            candidates.append(i)
    if not candidates:
        return chars
    top, top_ll = chars, ctc_log_likelihood(p, chars)
    for i in candidates:
        doubled = chars[:i + 1] + chars[i:]
        ll = ctc_log_likelihood(p, doubled)
        if ll > top_ll:
            top, top_ll = doubled, ll
    return top


def ctc_align(p: np.ndarray, label: list[int]) -> tuple[list[int], list[int]]:
    """The most probable path of ``label`` (Viterbi, on the lattice ``ctc_log_likelihood`` sums over): each
    character's most confident column on it, and the path's blank columns between the first and the last
    character."""
    ext, skip = _lattice(label)
    T, S = p.shape[0], len(ext)
    lp = np.log(p[:, ext] + 1e-12)
    d = np.full(S, -np.inf)
    d[:2] = lp[0, :2]
    back = np.zeros((T, S), np.int64)
    steps = np.arange(S)
    for t in range(1, T):
        stay, step, jump = d, np.r_[-np.inf, d[:-1]], np.r_[-np.inf, -np.inf, d[:-2]]
        jump = np.where(skip, jump, -np.inf)
        came = np.argmax(np.stack([stay, step, jump]), axis=0)  # 0: stay, 1: one state, 2: over a blank
        d = np.choose(came, [stay, step, jump]) + lp[t]
        back[t] = steps - came
    s = S - 1 if S == 1 or d[S - 1] >= d[S - 2] else S - 2
    path = np.zeros(T, np.int64)
    for t in range(T - 1, -1, -1):
        path[t] = s
        s = int(back[t, s])
    cols = [int(max(np.nonzero(path == 2 * i + 1)[0], key=lambda t, k=k: p[t, k])) for i, k in enumerate(label)]
    blanks = [t for t in range(cols[0], cols[-1]) if path[t] % 2 == 0] if label else []
    return cols, blanks


def model_path(format: str = "id") -> Path:
    """The recogniser file for a plate format (``id`` or ``generic``): the site's own when a models
    directory has one (``vision.models``), else ``ID_MODEL_PATH`` for ``id`` when it is there, else the
    common ``MODEL_PATH``."""
    site = (site_file(ID_MODEL_PATH.name) or site_file(MODEL_PATH.name)) if str(format) == "id" \
        else site_file(MODEL_PATH.name)
    if site is not None:
        return site
    if str(format) == "id" and ID_MODEL_PATH.exists():
        return ID_MODEL_PATH
    return MODEL_PATH


_LOCK = threading.Lock()
_INSTANCES: dict[str, Recognizer] = {}  # format -> its recogniser (one instance per file)


def get_recognizer(format: str = "id") -> Recognizer:
    """The shared recogniser of a plate format (loaded once; ``id``, the lane's, by default)."""
    format = str(format)
    with _LOCK:
        rec = _INSTANCES.get(format)
        if rec is None:
            path = model_path(format)
            rec = next((r for r in _INSTANCES.values() if r.path == path), None) or Recognizer(path)
            _INSTANCES[format] = rec
        return rec
