"""Confidence calibration: a monotone fit of raw confidence -> probability of being right.

The fit is made on real plates only, by ``python bench/vision.py --calibrate`` (``lajur bench vision
--calibrate``), which writes ``vision/data/calibration.json``: for ``id`` from the ``cal`` part of the split
by vehicle (``vision.datasets``) of the real Indonesian crops and street scenes (as given and with the
stretch undone), for ``generic`` from the US scenes' ``cal`` part (full frames, crops at their boxes, and each
photograph three times through detector-like boxes, ``bench.vision.jittered_readings``). No network trains
on the ``cal`` part; the test part is never read for it. Readings held below the threshold (disputed, or
doubtful: ``PlateReading.doubt``) are left out of the fit: their confidence is the cap.

``calibration_fold`` (by name) is the same for the crops a lane keeps (``vision.datasets.labelled_crops``).
"""

from __future__ import annotations

import zlib

import numpy as np


def calibration_fold(name: str) -> bool:
    """Dev images kept out of the recogniser's training (``vision.train_recognizer``) so that the
    calibration is fitted on readings of images the model has not seen (about a quarter of dev)."""
    group = name.rsplit(".", 1)[0].split("_")[0]
    return zlib.crc32(("cal:" + group).encode()) % 4 == 0


def isotonic(x: np.ndarray, y: np.ndarray, n_bins: int = 8) -> list[tuple[float, float]]:
    """Equal-count bins of raw confidence, each bin's share right (shrunk towards 1/2 by one
    pseudo-observation each way), made monotone by pooling adjacent violators. Returns (raw, p) points."""
    order = np.argsort(x, kind="stable")
    x, y = np.asarray(x, np.float64)[order], np.asarray(y, np.float64)[order]
    n = len(x)
    edges = np.unique(np.linspace(0, n, min(n_bins, n) + 1).round().astype(int))
    bins = []  # [sum_right, count, x_max]
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if b > a:
            bins.append([float(y[a:b].sum()), float(b - a), float(x[b - 1])])
    pooled: list[list[float]] = []
    for blk in bins:
        pooled.append(list(blk))
        while len(pooled) > 1 and ((pooled[-2][0] + 0.5) / (pooled[-2][1] + 1)
                                   > (pooled[-1][0] + 0.5) / (pooled[-1][1] + 1)):
            s, c, xm = pooled.pop()
            pooled[-1][0] += s
            pooled[-1][1] += c
            pooled[-1][2] = xm
    pts = [(0.0, 0.0)]
    for s, c, xm in pooled:
        p = (s + 0.5) / (c + 1.0)
        if xm <= pts[-1][0]:
            pts[-1] = (pts[-1][0], max(pts[-1][1], p))
        else:
            pts.append((xm, p))
    if pts[-1][0] < 1.0:
        pts.append((1.0, pts[-1][1]))
    return [(round(float(a), 8), round(float(b), 4)) for a, b in pts]
