"""Plate reading with OpenCV: a learned plate detector, a segmentation-free recogniser, grammar decoding.

Pipeline (``PlateReader.read``):

1. Grey frame; an image without contrast is ``blank``.
2. Localisation: ``vision.detector.get_detector().detect(frame, max_plates=3)`` gives padded plate boxes
   (with corners when the detector knows them: the quad is rectified).
3. Recognition (``vision.recognizer``): each crop, resized to 32x128 grey, goes through a small CRNN scored
   column by column (CTC), run in numpy; greedy decoding gives the characters and, for each, its class
   distribution. Nothing is segmented, so touching or broken characters, the validity line under the number,
   bolts and frames are handled by what the network learned.
4. Grammar decoding (``vision.grammar.decode``): for ``id`` the position decides O/0, I/1, B/8, S/5, Z/2,
   and the column steps between characters say where the sections break; a stray character at either end
   may be dropped when what remains fits the format much better.
5. Confidence: the product of the chosen characters' probabilities times the weakest blank between them (a
   character the network nearly saw), through a calibration curve fitted on dev data the recogniser was not
   trained on (``vision/data/calibration.json``), so that e.g. 0.9 means about 9 in 10 right. Among the
   boxes, the most confident reading wins; other boxes that read as plates are counted (``candidates``).

``read_crop`` does steps 3-5 on an image that is already the plate. Without the recogniser's model file the
older segmenting reader is used (``_legacy_read``: text-line localisation of character-like connected
components, per-character classifier ``vision.classifier``); it also serves ``segment_patches``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vision.classifier import (
    JUNK,
    N_CLASSES,
    fast_percentiles,
    features_batch,
    get_classifier,
    normalise_patch,
)
from vision.detector import box_iou
from vision.grammar import PlateFormat, decode, plates_match, usual_shape
from vision.models import site_file
from vision.recognizer import IN_W

__all__ = ["PlateReader", "PlateReading", "plates_match"]

CALIBRATION_PATH = Path(__file__).with_name("data") / "calibration.json"
# Margins (share of the box's width, height) added to a detector box: the first, then the others in turn for a
# box whose reading is doubtful (a character cut at an edge, or too much background around a small plate).
CROP_VARIANTS = ((0.04, 0.0), (0.0, -0.12), (0.1, 0.08), (-0.12, -0.2))
# the same for an image that is already the plate (read_crop)
CROP_VARIANTS_CROP = ((0.0, 0.0), (-0.03, -0.06), (0.06, 0.1))
RETRY_BELOW = 0.9
WIDE_MARGIN = (0.16, 0.12)
SECOND_OPINION_MIN = 0.6  # a second reading counts as a dissent from this confidence (and 4 characters)
SECOND_OPINION_CAP = 0.5  # below the lane's plate_min_confidence (0.9): a disagreement goes to the officer
DET_SURE = 0.5  # detector score from which a box is taken as surely a plate
# Never confident when the plate may be cut off or partly hidden (``_hold_doubtful``): a reading whose first or
# last character touches the crop's edge, that reads fewer characters than the box's wider surroundings
# (``CONTEXT_MARGIN``: the box may hold only part of the plate), or that lacks the region's usual plate
# shape (``vision.grammar.usual_shape``) is held at DOUBT_CAP, below the lane's plate_min_confidence (0.9).
DOUBT_CAP = 0.5
SPAN_FIRST_MAX, SPAN_LAST_MIN = 7, 23  # of the recogniser's 32 columns (``_Candidate.hidden``)
CONTEXT_MARGIN = (0.45, 0.3)
EDGE_COLS, EDGE_PENALTY = 1, 0.7  # first/last character within this many columns of the crop's edge


@dataclass
class PlateReading:
    plate: str | None
    confidence: float
    bbox: tuple[int, int, int, int] | None
    ms: float
    crop: np.ndarray | None = None
    candidates: int = 0  # how many plausible plates were seen in the frame (2+ = several plates)
    char_confidences: list[float] = field(default_factory=list)
    char_probs: np.ndarray | None = None  # (n, classes) after decoding, for multi-frame voting
    reason: str | None = None  # why no plate: "no_plate", "unreadable", "blank"
    raw_confidence: float = 0.0  # before calibration
    disputed: bool = False  # a second reader read another plate: frames that agree on it do not add up (multiframe)
    doubt: str | None = None  # why held below the lane's threshold: "edge", "context", "hidden", "shape"

    def to_json(self, file: str | None = None) -> dict:
        d = {"plate": self.plate, "confidence": round(float(self.confidence), 4),
             "bbox": list(self.bbox) if self.bbox else None, "ms": round(self.ms, 2)}
        if file is not None:
            d = {"file": file, **d}
        return d


@dataclass
class _Comp:
    x: int
    y: int
    w: int
    h: int

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


@dataclass
class _Box:
    x: int
    y: int
    w: int
    h: int


@dataclass
class _Candidate:
    plate: str | None
    raw_conf: float
    chars: list[_Comp]
    light: bool
    char_conf: list[float]
    probs: np.ndarray | None
    box: tuple[int, int, int, int]
    edge: bool = False  # the first or last character touches the crop's edge: the plate may be cut there
    hidden: bool = False  # (id) the characters leave one end of the plate empty: something may hide it


def _load_calibration(fmt: str) -> list[tuple[float, float]] | None:
    try:
        data = json.loads((site_file(CALIBRATION_PATH.name) or CALIBRATION_PATH).read_text())
        return [(float(a), float(b)) for a, b in data[fmt]["points"]]
    except (OSError, ValueError, KeyError):
        return None


class PlateReader:
    """Reads one plate per image. ``format`` is ``id`` (Indonesian grammar) or ``generic``."""

    def __init__(self, format: PlateFormat | str = PlateFormat.ID, min_confidence: float = 0.5):
        self.format = PlateFormat(format)
        self.min_confidence = float(min_confidence)
        self._rec = False  # loaded on first use
        self._calib = _load_calibration(self.format.value)
        self.scales = (0.5, 1.0)
        self.max_len = 9 if self.format is PlateFormat.ID else 10
        self.min_len = 2
        self.second_opinion = True
        """For ``id``: the segmenting reader checks the recogniser's reading (``_second_opinion``)."""
        self.wide_check = True
        """The detector's best box is read once more with ``WIDE_MARGIN``; a different plate is a dispute."""

    # ------------------------------------------------------------------ public
    def read(self, image_bgr: np.ndarray) -> PlateReading:
        """Find and read the plate in a camera frame: detector boxes, each read by the recogniser."""
        t0 = time.perf_counter()
        gray = _to_gray(image_bgr)
        if gray is None:
            return PlateReading(None, 0.0, None, _ms(t0), reason="unreadable")
        if float(gray[::8, ::8].std()) < 4.0:
            return PlateReading(None, 0.0, None, _ms(t0), reason="blank")
        rec = self._recognizer()
        if rec is None:
            return self._legacy_read(image_bgr)
        from vision.detector import get_detector

        boxes = get_detector().detect(image_bgr, max_plates=3)
        if not boxes:
            return PlateReading(None, 0.0, None, _ms(t0), reason="no_plate")
        H, W = gray.shape
        cands: list[_Candidate | None] = [None] * len(boxes)
        wide: _Candidate | None = None
        # each box with the default margin first; a doubtful reading is retried with other margins
        for v, pad in enumerate(CROP_VARIANTS):
            todo = [k for k, c in enumerate(cands)
                    if v == 0 or (c is not None and c.raw_conf < RETRY_BELOW and (k == 0 or c.plate))]
            crops, idx, bbs = [], [], []
            for k in todo:
                crop, bb = _cut(gray, boxes[k], *pad)
                if crop is not None:
                    crops.append(crop)
                    idx.append(k)
                    bbs.append(bb)
            if v == 0 and self.wide_check:  # the detector's best box once more with a wide margin
                crop, bb = _cut(gray, boxes[0], *WIDE_MARGIN)
                if crop is not None:
                    crops.append(crop)
                    idx.append(-1)
                    bbs.append(bb)
            for k, r, bb in zip(idx, rec.recognise(crops), bbs, strict=True):
                c = self._candidate(r, bb)
                if k < 0:
                    wide = c
                elif cands[k] is None or (c is not None and c.raw_conf > cands[k].raw_conf):
                    cands[k] = c
        valid = [(c, k) for k, c in enumerate(cands) if c is not None and c.plate]
        if not valid:
            return PlateReading(None, 0.0, None, _ms(t0), reason="no_plate")
        for k, c in enumerate(cands):  # a box the detector doubts gives a less confident reading
            if c is not None:
                c.raw_conf *= _box_trust(boxes[k])
        # the most confident reading; very short ones (2-3 characters: often a sign or a sticker) count less
        best, k = max(valid, key=lambda ck: ck[0].raw_conf * (1.0 if len(ck[0].plate) >= 4 else 0.6))
        # The best box read again with a wide margin must agree: a box that cuts a character off (or takes in a
        # sticker) gives a reading that is confident and wrong; the wide one then reads another plate. A
        # disagreement keeps the more confident of the two below the lane's threshold (an officer confirms).
        disputed = False
        if k == 0 and wide is not None and wide.plate and wide.plate != best.plate:
            disputed = True
            wide.raw_conf *= _box_trust(boxes[0])
            if wide.raw_conf > best.raw_conf:
                cands[0] = best = wide
        # The box must hold both ends of the plate: its wider surroundings read with more characters (the
        # rest of a plate the box cut) make the reading doubtful.
        context_longer = False
        crop, bb = _cut(gray, boxes[k], *CONTEXT_MARGIN)
        if crop is not None:
            ctx = self._candidate(rec.recognise([crop])[0], bb)
            context_longer = bool(ctx is not None and ctx.plate and len(ctx.plate) > len(best.plate)
                                  and ctx.raw_conf > 0.05)
        # distinct plates in view: other boxes that read as plates too
        n = 1 + sum(1 for c, j in valid if j != k and c.raw_conf > 0.3 and box_iou(c.box, best.box) < 0.3)
        x, y, w, h = best.box
        reading = self._reading(best, best.box, gray[y:y + h, x:x + w].copy(), n, _ms(t0))
        if disputed:
            reading.confidence = min(reading.confidence, SECOND_OPINION_CAP)
            reading.disputed = True
        if self.format is PlateFormat.ID and self.second_opinion:
            px, py = int(0.08 * w), int(0.15 * h)
            H, W = gray.shape
            wider = image_bgr[max(0, y - py):min(H, y + h + py), max(0, x - px):min(W, x + w + px)]
            reading = self._second_opinion(reading, wider)
        reading = self._hold_doubtful(reading, best.edge, context_longer, best.hidden)
        reading.ms = _ms(t0)
        return reading

    def read_crop(self, image_bgr: np.ndarray) -> PlateReading:
        """Read an image that is already the plate, cut out (no localisation)."""
        t0 = time.perf_counter()
        gray = _to_gray(image_bgr)
        if gray is None:
            return PlateReading(None, 0.0, None, _ms(t0), reason="unreadable")
        rec = self._recognizer()
        if rec is None:
            return self._legacy_read_crop(image_bgr)
        h, w = gray.shape
        whole = _Box(0, 0, w, h)
        cand = None
        for v, pad in enumerate(CROP_VARIANTS_CROP):
            if v > 0 and cand is not None and cand.raw_conf >= RETRY_BELOW:
                break
            crop, _ = _cut(gray, whole, *pad)
            c = self._candidate(rec.recognise([crop])[0], (0, 0, w, h))
            if cand is None or (c is not None and c.raw_conf > cand.raw_conf):
                cand = c
        if cand is None or cand.plate is None:
            return PlateReading(None, 0.0, (0, 0, w, h), _ms(t0), crop=image_bgr, reason="no_plate")
        reading = self._reading(cand, (0, 0, w, h), image_bgr, 1, _ms(t0))
        if self.format is PlateFormat.ID and self.second_opinion:
            reading = self._second_opinion(reading, image_bgr)
        reading = self._hold_doubtful(reading, cand.edge, False, cand.hidden)
        reading.ms = _ms(t0)
        return reading

    def _hold_doubtful(self, reading: PlateReading, edge: bool, context_longer: bool,
                       hidden: bool = False) -> PlateReading:
        """Item 4 of issue 22: a reading is never confident when the plate may be cut off or partly hidden. A
        character touching the crop's edge, surroundings that read longer, an end of the plate without
        characters (``_Candidate.hidden``), or a reading without the region's
        usual shape (an end hidden by a tow bar or cut by the box leaves e.g. ``AB1067`` of AB 1067 GF) holds
        it at ``DOUBT_CAP``: an officer confirms it. ``raw_confidence`` is kept (the calibration's input)."""
        if not reading.plate:
            return reading
        why = ("context" if context_longer else "edge" if edge else "hidden" if hidden
               else None if usual_shape(reading.plate, self.format) else "shape")
        if why is not None:
            reading.doubt = why
            reading.confidence = min(reading.confidence, DOUBT_CAP)
        return reading

    def _second_opinion(self, first: PlateReading, crop: np.ndarray) -> PlateReading:
        """Indonesian plates (the lane's): the segmenting reader reads the same crop. Two different
        methods seldom make the same mistake, so agreement keeps the higher confidence, and a
        disagreement keeps the more confident reading at 0.5, below the lane's threshold
        (``plate_min_confidence``, 0.9): an officer confirms it rather than a wrong plate being bound
        to a renewal (a driver would then wait at a sign showing someone else's plate). Chosen on dev data (150
        rendered lane frames of another seed than the benchmark's, the dev crops): it removed every
        confident misread and read more plates right, for about 5 ms a frame."""
        other = self._legacy_read_crop(crop)
        # the segmenting reader's own score (the calibration curve is the recogniser's, fitted on real plates)
        other.confidence = other.raw_confidence
        if (not other.plate or other.confidence < SECOND_OPINION_MIN
                or len(other.plate) < len(first.plate or "") - 1
                or _thin_end_dropped(other.plate, first.plate or "")):
            # a doubtful or fragmentary second reading is no evidence against the first; nor is the first
            # less a thin I at one end, which the segmenting reader takes for a piece of the plate's frame
            return first
        if other.plate == first.plate:
            # The other method settles a wide-margin dispute in the first's favour; the confidence is then the
            # first's calibrated one (the segmenting reader's score is on another scale: taking the higher of
            # the two raised plates that one box had cut for both readers).
            if first.disputed:
                first.confidence, first.disputed = self.calibrated(first.raw_confidence), False
            return first
        pick = other if other.raw_confidence > first.raw_confidence else first
        pick.confidence = min(pick.confidence, SECOND_OPINION_CAP)
        pick.disputed = True
        if pick is other:  # where the plate is, and how many, are the detector's findings
            other.bbox, other.crop, other.candidates = first.bbox, first.crop, first.candidates
        return pick

    def _recognizer(self):
        if self._rec is False:
            try:
                from vision.recognizer import get_recognizer

                self._rec = get_recognizer(self.format.value)
            except (OSError, ValueError):  # no model file: the segmenting reader
                self._rec = None
        return self._rec

    def _candidate(self, r, box: tuple[int, int, int, int]) -> _Candidate | None:
        """Grammar decoding of one recognition (``vision.recognizer.Recognition``)."""
        n = len(r.text)
        if n < self.min_len:
            return None
        probs = r.char_probs
        best = None
        options = [(0, n)]
        if n > self.min_len:  # a stray mark at either end (bolt, frame, sticker)
            options += [(1, n), (0, n - 1)]
        for a, b in options:
            if b - a > self.max_len:
                continue
            breaks = _column_breaks(r.columns[a:b]) if self.format is PlateFormat.ID else None
            res = decode(probs[a:b], self.format, breaks=breaks)
            if res.plate is None:
                continue
            pen = 1.0 if (a, b) == (0, n) else float(1.0 - max(r.char_conf[:a].max(initial=0),
                                                                r.char_conf[b:].max(initial=0)))
            score = res.confidence * pen
            if best is None or score > best[0]:
                best = (score, res, a, b)
        if best is None:
            return _Candidate(None, 0.0, [], False, [], None, box)
        score, res, a, b = best
        raw = score * float(min(1.0, r.gap_conf / 0.6))
        # a character at the very edge of the crop may be cut, or the plate may go on beyond it
        n_cols = IN_W // 4
        edge = r.columns[a] <= EDGE_COLS or r.columns[b - 1] >= n_cols - 1 - EDGE_COLS
        if edge:
            raw *= EDGE_PENALTY
        # an Indonesian plate's characters fill it from end to end (on 99 % of the real crops the first is in
        # the first 6 of the 32 columns and the last in the last 7): an empty end may be a hidden one
        hidden = self.format is PlateFormat.ID and (r.columns[a] > SPAN_FIRST_MAX or r.columns[b - 1] < SPAN_LAST_MIN)
        return _Candidate(res.plate, raw, [], False, list(res.char_probs), probs[a:b], box, edge, hidden)

    def _legacy_read(self, image_bgr: np.ndarray) -> PlateReading:
        """The segmenting reader (text-line localisation, per-character classifier)."""
        t0 = time.perf_counter()
        gray = _to_gray(image_bgr)
        if gray is None:
            return PlateReading(None, 0.0, None, _ms(t0), reason="unreadable")
        if float(gray[::8, ::8].std()) < 4.0:
            return PlateReading(None, 0.0, None, _ms(t0), reason="blank")
        cands: list[_Candidate] = []
        unread = 0
        # Localise at half resolution first (fast, enough for the lane camera's plate size); only when
        # nothing confident is found, again at full resolution (small or distant plates).
        for sc in self.scales:
            g = gray if sc == 1.0 else cv2.resize(gray, None, fx=sc, fy=sc, interpolation=cv2.INTER_AREA)
            groups = [(grp, light) for light in (False, True) for grp in self._groups(g, light)]
            # plate-like lines first: 4-10 characters, then by size
            groups.sort(key=lambda gl: (not 4 <= len(gl[0]) <= 10, -sum(c.h for c in gl[0])))
            done_at = None
            for k, (group, light) in enumerate(groups[:10]):
                if sc != 1.0:
                    group = [_Comp(int(c.x / sc), int(c.y / sc), int(round(c.w / sc)), int(round(c.h / sc)))
                             for c in group]
                cand = self._read_group(gray, group, light)
                if cand is not None:
                    cands.append(cand)
                    if cand.raw_conf > 0.995 and len(cand.chars) >= 4:
                        done_at = (k, cand, sc)
                        break
            if done_at is not None:
                # other plate-like text lines are counted (several plates in view), not read
                k, cand, sc = done_at
                h_ref = cand.box[3] * sc
                bx = tuple(int(v * sc) for v in cand.box)
                for grp, _ in groups[k + 1:]:
                    if len(grp) < 4:
                        continue
                    hg = small_median([c.h for c in grp])
                    x0, y0 = min(c.x for c in grp), min(c.y for c in grp)
                    gb = (x0, y0, max(c.x + c.w for c in grp) - x0, max(c.y + c.h for c in grp) - y0)
                    if hg >= 0.6 * h_ref and box_iou(gb, bx) < 0.1 and not _near(gb, bx):
                        unread += 1
                break
            best = self._pick(cands)
            if best is not None and best.raw_conf > 0.9:
                break
        self._unread = unread
        return self._finish(cands, gray, t0)

    def _legacy_read_crop(self, image_bgr: np.ndarray) -> PlateReading:
        t0 = time.perf_counter()
        gray = _to_gray(image_bgr)
        if gray is None:
            return PlateReading(None, 0.0, None, _ms(t0), reason="unreadable")
        h, w = gray.shape
        cands = self._read_region(gray, 0.0)
        best = self._vote_pick(cands)
        ms = _ms(t0)
        if best is None or best.plate is None:
            return PlateReading(None, 0.0, (0, 0, w, h), ms, crop=image_bgr, reason="no_plate")
        return self._reading(best, (0, 0, w, h), image_bgr, len([c for c in cands if c.plate]), ms)

    def segment_patches(self, image_bgr: np.ndarray) -> list[list[np.ndarray]]:
        """Normalised character patches of a plate crop, one list per segmentation tried (most
        confident first); used by the trainer to harvest real characters from the dev split."""
        gray = _to_gray(image_bgr)
        if gray is None:
            return []
        g, cands = self._segmentations(gray)
        return [[normalise_patch(g[ch.y: ch.y + ch.h, ch.x: ch.x + ch.w], c.light) for ch in c.chars]
                for c in cands]

    def segment_boxes(self, image_bgr: np.ndarray
                      ) -> list[tuple[list[tuple[float, float, float, float]], bool, str | None]]:
        """The segmentations of a plate crop, most confident first: each as its characters' boxes (x, y, w, h
        in the image's pixels, left to right), whether they are light on dark, and its reading. Used by the
        recogniser's trainer to respell real dev plates (``vision.train_recognizer.RealDev``)."""
        gray = _to_gray(image_bgr)
        if gray is None:
            return []
        g, cands = self._segmentations(gray)
        f = gray.shape[0] / float(g.shape[0])
        return [([(ch.x * f, ch.y * f, ch.w * f, ch.h * f) for ch in sorted(c.chars, key=lambda q: q.x)],
                 bool(c.light), c.plate) for c in cands]

    def _segmentations(self, gray: np.ndarray) -> tuple[np.ndarray, list[_Candidate]]:
        """The crop at the segmenter's scale (characters about half of 100 px) and every segmentation of it."""
        scale = 100.0 / max(1, gray.shape[0])
        g = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1
                       else cv2.INTER_CUBIC)
        cands = sorted(self._read_region(g, 0.0, scale=1.0, exhaustive=True), key=lambda c: -c.raw_conf)
        return g, cands

    def calibrated(self, raw: float) -> float:
        if not self._calib:
            return raw
        xs = [a for a, _ in self._calib]
        ys = [b for _, b in self._calib]
        return float(np.interp(raw, xs, ys))

    # ------------------------------------------------------------------ stages
    def _components(self, gray: np.ndarray, light: bool, block: int, c: float,
                    min_h: int, max_h: int, with_binary: bool = False, remove_frame: bool = False):
        block = max(3, block | 1)
        if light:
            binimg = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block, -c)
        else:
            binimg = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV,
                                           block, c)
        if remove_frame:
            _remove_frame(binimg)
        n, _, stats, _ = cv2.connectedComponentsWithStats(binimg, connectivity=8)
        if n <= 1:
            return ([], binimg) if with_binary else []
        s = stats[1:]
        x, y, w, h, area = s[:, 0], s[:, 1], s[:, 2], s[:, 3], s[:, 4]
        fill = area / np.maximum(1, w * h)
        keep = ((h >= min_h) & (h <= max_h) & (w <= 2.6 * h) & (w >= 0.08 * h) & (fill > 0.15)
                & ((fill < 0.92) | ((w < 0.3 * h) & (fill < 0.99))))
        idx = np.nonzero(keep)[0]
        comps = [_Comp(int(x[i]), int(y[i]), int(w[i]), int(h[i])) for i in idx]
        return (comps, binimg) if with_binary else comps

    def _group(self, comps: list[_Comp], max_gap: float = 2.2) -> list[list[_Comp]]:
        """Text-line grouping: similar height, aligned, character-sized gaps."""
        comps = sorted(comps, key=lambda c: c.x)
        n = len(comps)
        parent = list(range(n))

        def find(a: int) -> int:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        for i in range(n):
            a = comps[i]
            for j in range(i + 1, n):
                b = comps[j]
                gap = b.x - (a.x + a.w)
                if gap > max_gap * max(a.h, b.h):
                    break
                if gap < -0.2 * min(a.w, b.w):
                    continue
                r = a.h / b.h
                if r < 0.8 or r > 1.25:
                    continue
                if abs(a.cy - b.cy) > 0.3 * max(a.h, b.h):
                    continue
                parent[find(i)] = find(j)
        groups: dict[int, list[_Comp]] = {}
        for i in range(n):
            groups.setdefault(find(i), []).append(comps[i])
        out = [sorted(g, key=lambda c: c.x) for g in groups.values() if len(g) >= self.min_len]
        return out

    def _groups(self, gray: np.ndarray, light: bool) -> list[list[_Comp]]:
        h = gray.shape[0]
        comps = self._components(gray, light, block=max(15, h // 24) if h > 500 else 15, c=12,
                                 min_h=max(8, h // 80), max_h=h // 6)
        groups = [g for g in self._group(comps) if len(g) >= 3 or self.format is PlateFormat.ID]
        # largest groups first, limited (time budget)
        groups.sort(key=lambda g: -sum(c.h for c in g))
        return groups[:8]

    @property
    def clf(self):
        """The per-character classifier of the segmenting reader (loaded when first needed)."""
        return get_classifier()

    def _classify(self, gray: np.ndarray, chars: list[_Comp], light: bool,
                  cache: dict | None = None) -> np.ndarray:
        """Class probabilities of each character box of ``gray``. ``cache`` (one per image and polarity)
        keeps those already computed: the thresholds of one region find many of the same boxes."""
        keys = [(c.x, c.y, c.w, c.h, light) for c in chars]
        todo = [k for k in dict.fromkeys(keys) if cache is None or k not in cache]
        if todo:
            patches = []
            H, W = gray.shape
            for x, y, w, h, _ in todo:
                x0, y0 = max(0, x), max(0, y)
                x1, y1 = min(W, x + w), min(H, y + h)
                patches.append(normalise_patch(gray[y0:y1, x0:x1], light))
            got = dict(zip(todo, self.clf.predict_proba(features_batch(patches)), strict=True))
            if cache is not None:
                cache.update(got)
        else:
            got = {}
        if not keys:
            return np.zeros((0, N_CLASSES), np.float32)
        return np.stack([got[k] if k in got else cache[k] for k in keys])

    def _classify_splitting(self, gray: np.ndarray, chars: list[_Comp], light: bool,
                            binimg: np.ndarray, cache: dict | None = None) -> tuple[list[_Comp], np.ndarray]:
        """Classify; a wide component is replaced by its split pieces unless it reads well whole
        (touching characters vs. a wide W or M)."""
        pieces: list[list[_Comp]] = []
        flat: list[_Comp] = []
        for c in chars:
            alt = _split_wide([c], binimg, 0.95) if c.w > 0.95 * c.h else [c]
            if len(alt) < 2:
                alt = [c]
            pieces.append(alt)
            flat.append(c)
            if len(alt) > 1:
                flat.extend(alt)
        probs = self._classify(gray, flat, light, cache)
        out_c: list[_Comp] = []
        out_p: list[np.ndarray] = []
        k = 0
        for c, alt in zip(chars, pieces, strict=True):
            whole = probs[k]
            k += 1
            if len(alt) == 1:
                out_c.append(c)
                out_p.append(whole)
                continue
            sub = probs[k: k + len(alt)]
            k += len(alt)
            whole_score = float(whole[:JUNK].max())
            split_score = float(np.prod(sub[:, :JUNK].max(axis=1)) ** (1 / len(alt)))
            if whole[JUNK] > 0.5 or split_score > whole_score + 0.05 or c.w > 1.25 * c.h:
                out_c.extend(alt)
                out_p.extend(sub)
            else:
                out_c.append(c)
                out_p.append(whole)
        return out_c, np.stack(out_p)

    def _decode(self, chars: list[_Comp], probs: np.ndarray, light: bool,
                box: tuple[int, int, int, int]) -> _Candidate | None:
        keep = probs[:, JUNK] < 0.5
        chars = [c for c, k in zip(chars, keep, strict=True) if k]
        probs = probs[keep]
        if len(chars) < self.min_len:
            return None
        # Too many characters: drop the weakest at either end until it fits.
        while len(chars) > self.max_len:
            if probs[0, :JUNK].max() < probs[-1, :JUNK].max():
                chars, probs = chars[1:], probs[1:]
            else:
                chars, probs = chars[:-1], probs[:-1]
        breaks = _break_probs(chars) if self.format is PlateFormat.ID else None
        best = None
        options = [(0, len(chars))]
        if len(chars) > self.min_len + 1:
            options += [(1, len(chars)), (0, len(chars) - 1)]
        for a, b in options:
            res = decode(probs[a:b, :JUNK] / np.maximum(1e-9, 1 - probs[a:b, JUNK:JUNK + 1]), self.format,
                         breaks=None if breaks is None else breaks[a:b - 1])
            if res.plate is None:
                continue
            # Dropping an end character must be clearly better (a weak end char is likely junk).
            pen = 1.0 if (a, b) == (0, len(chars)) else 0.5
            if best is None or res.confidence * pen > best[0]:
                best = (res.confidence * pen, res, a, b)
        if best is None:
            return None
        _, res, a, b = best
        # fences, railings and grilles read as rows of I/1: not a plate
        if sum(ch in "I1" for ch in res.plate) > 0.75 * len(res.plate):
            return None
        return _Candidate(res.plate, res.confidence, chars[a:b], light, res.char_probs, probs[a:b], box)

    def _read_group(self, gray: np.ndarray, group: list[_Comp], light: bool) -> _Candidate | None:
        """Rectify the region around a character group and read it at a standard scale."""
        hs = np.array([c.h for c in group], np.float32)
        ch = float(np.median(hs))
        xs = np.array([c.cx for c in group], np.float32)
        ys = np.array([c.cy for c in group], np.float32)
        slope = float(np.polyfit(xs, ys, 1)[0]) if len(group) >= 2 and np.ptp(xs) > 0 else 0.0
        angle = math.degrees(math.atan(slope))
        x0 = min(c.x for c in group)
        x1 = max(c.x + c.w for c in group)
        y0 = min(c.y for c in group)
        y1 = max(c.y + c.h for c in group)
        mx, my = 1.5 * ch, 0.45 * ch
        H, W = gray.shape
        rx0, ry0 = int(max(0, x0 - mx)), int(max(0, y0 - my - abs(slope) * (x1 - x0) / 2))
        rx1, ry1 = int(min(W, x1 + mx)), int(min(H, y1 + 0.9 * ch + abs(slope) * (x1 - x0) / 2))
        region = gray[ry0:ry1, rx0:rx1]
        if region.size == 0:
            return None
        scale = 48.0 / ch
        cands = self._read_region(region, angle, scale=scale, light_only=light, trim_edges=True)
        best = self._vote_pick(cands)
        if best is None:
            return None
        bx, by, bw, bh = best.box
        # map the region box back to the frame (approximate after rotation)
        best.box = (int(rx0 + bx / scale), int(ry0 + by / scale), int(bw / scale), int(bh / scale))
        return best

    def _read_region(self, gray: np.ndarray, angle: float, scale: float | None = None,
                     light_only: bool | None = None, exhaustive: bool = False,
                     trim_edges: bool = False) -> list[_Candidate]:
        """Segment and read a plate region (optionally rotated by ``angle`` and rescaled)."""
        if scale is None:
            # crops: characters are about half the plate height
            scale = 100.0 / max(1, gray.shape[0])
        if abs(scale - 1) > 0.02:
            gray = cv2.resize(gray, None, fx=scale, fy=scale,
                              interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        if abs(angle) > 0.5:
            h, w = gray.shape
            M = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
            gray = cv2.warpAffine(gray, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        h, w = gray.shape
        lo, hi = fast_percentiles(gray[:: 2, :: 2], 0.02, 0.98)
        if hi - lo > 10:
            gray = cv2.convertScaleAbs(gray, alpha=255.0 / (hi - lo), beta=-lo * 255.0 / (hi - lo))
        out: list[_Candidate] = []
        seen: dict = {}  # character boxes already classified (the thresholds find many of the same)
        if light_only is not None:
            polarities: tuple[bool, ...] = (light_only,)
        elif float(gray[::2, ::2].mean()) < 128.0:  # mostly dark: likely light characters on a dark plate
            polarities = (True, False)
        else:
            polarities = (False, True)
        for light in polarities:
            for block, c in ((31, 8), (51, 5), (21, 12)):
                comps, binimg = self._components(gray, light, block, c, min_h=max(10, int(h * 0.22)),
                                                 max_h=int(h * 0.9), with_binary=True, remove_frame=True)
                if not comps:
                    continue
                for g in self._group(comps, max_gap=3.2):
                    hs = small_median([c.h for c in g])
                    g = [c for c in g if 0.78 * hs <= c.h <= 1.15 * hs or c.w > 0.3 * c.h]
                    if trim_edges:  # plate border pieces touch the region's sides
                        g = [c for c in g if c.x > 0 and c.x + c.w < w]
                    if len(g) < self.min_len:
                        continue
                    g, probs = self._classify_splitting(gray, g, light, binimg, seen)
                    bx0, by0 = min(c.x for c in g), min(c.y for c in g)
                    bx1, by1 = max(c.x + c.w for c in g), max(c.y + c.h for c in g)
                    cand = self._decode(g, probs, light, (bx0, by0, bx1 - bx0, by1 - by0))
                    if cand is not None:
                        out.append(cand)
                if not exhaustive and _agreeing(out) >= 2:
                    return out
        return out

    def _pick(self, cands: list[_Candidate]) -> _Candidate | None:
        valid = _suppress_small_lines([c for c in cands if c.plate])
        if not valid:
            return None
        return max(valid, key=lambda c: (c.raw_conf * min(1.0, len(c.chars) / 4), len(c.chars)))

    def _vote_pick(self, cands: list[_Candidate]) -> _Candidate | None:
        """Among readings of one region with several thresholds: the plate most of them agree on."""
        valid = _suppress_small_lines([c for c in cands if c.plate])
        if not valid:
            return None
        score: dict[str, float] = {}
        for c in valid:
            # confident readings count much more than several doubtful ones
            score[c.plate] = score.get(c.plate, 0.0) + (c.raw_conf ** 4) * min(1.0, len(c.chars) / 4)
        top = max(score, key=lambda k: (score[k], len(k)))
        return max((c for c in valid if c.plate == top), key=lambda c: c.raw_conf)

    def _finish(self, cands: list[_Candidate], gray: np.ndarray, t0: float) -> PlateReading:
        valid = [c for c in cands if c.plate and c.raw_conf > 0.05]
        best = self._pick(valid)
        if best is None:
            return PlateReading(None, 0.0, None, _ms(t0), reason="no_plate")
        # distinct plates (different places) seen in the frame
        distinct = []
        for c in valid:
            if c.raw_conf < 0.3:
                continue
            if all(box_iou(c.box, d.box) < 0.3 for d in distinct):
                distinct.append(c)
        x, y, w, h = best.box
        # plate box: characters plus the plate margin around them
        px0, py0 = max(0, int(x - 0.25 * h)), max(0, int(y - 0.3 * h))
        px1 = min(gray.shape[1], int(x + w + 0.25 * h))
        py1 = min(gray.shape[0], int(y + h + 0.7 * h))
        bbox = (px0, py0, px1 - px0, py1 - py0)
        crop = gray[py0:py1, px0:px1].copy()
        return self._reading(best, bbox, crop, max(1, len(distinct)) + getattr(self, "_unread", 0), _ms(t0))

    def _reading(self, best: _Candidate, bbox: tuple[int, int, int, int], crop: np.ndarray | None,
                 n: int, ms: float) -> PlateReading:
        conf = self.calibrated(best.raw_conf)
        plate = best.plate if conf >= 0 else None
        return PlateReading(plate, conf, bbox, ms, crop=crop, candidates=n,
                            char_confidences=list(best.char_conf), char_probs=best.probs,
                            raw_confidence=best.raw_conf)


def _cut(gray: np.ndarray, box, pad_x: float = 0.0, pad_y: float = 0.0
         ) -> tuple[np.ndarray | None, tuple[int, int, int, int]]:
    """The plate crop of a detector box, with an extra margin (share of the box's width, height; negative:
    tighter): the quad rectified when the detector gives one, else the box."""
    H, W = gray.shape
    mx, my = pad_x * box.w, pad_y * box.h
    ux0, uy0 = int(round(box.x - mx)), int(round(box.y - my))
    ux1, uy1 = int(round(box.x + box.w + mx)), int(round(box.y + box.h + my))
    x0, y0, x1, y1 = max(0, ux0), max(0, uy0), min(W, ux1), min(H, uy1)
    bb = (x0, y0, x1 - x0, y1 - y0)
    if x1 - x0 < 8 or y1 - y0 < 4:
        return None, bb
    quad = getattr(box, "quad", None)
    if quad is not None and len(quad) == 4:
        q = np.float32(quad)
        c = q.mean(axis=0)
        q = (q - c) * np.float32([1 + 2 * pad_x, 1 + 2 * pad_y]) + c
        qw = float(max(np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[2] - q[3])))
        qh = float(max(np.linalg.norm(q[3] - q[0]), np.linalg.norm(q[2] - q[1])))
        if qw >= 8 and qh >= 4:
            ow, oh = int(round(qw)), int(round(qh))
            M = cv2.getPerspectiveTransform(q, np.float32([[0, 0], [ow, 0], [ow, oh], [0, oh]]))
            return cv2.warpPerspective(gray, M, (ow, oh), flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_REPLICATE), bb
    crop = gray[y0:y1, x0:x1]
    if (x0, y0, x1, y1) != (ux0, uy0, ux1, uy1):  # beyond the image: repeat its border
        crop = cv2.copyMakeBorder(crop, y0 - uy0, uy1 - y1, x0 - ux0, ux1 - x1, cv2.BORDER_REPLICATE)
    return crop, bb


def small_median(values) -> float:
    """``np.median`` of a short list of numbers, the same float, without numpy's per-call cost (the
    segmenting reader takes a dozen medians of 2-10 numbers a frame)."""
    v = sorted(float(x) for x in values)
    n = len(v)
    if n == 0:
        raise ValueError("median of no values")
    m = n // 2
    return v[m] if n % 2 else (v[m - 1] + v[m]) / 2.0


def small_percentile(values, q: float) -> float:
    """``np.percentile(values, q)`` (linear method) of a short list: numpy's arithmetic step by step, so the
    same float."""
    v = sorted(float(x) for x in values)
    n = len(v)
    if n == 0:
        raise ValueError("percentile of no values")
    t = q / 100.0
    virtual = (n - 1) * t
    if virtual >= n - 1:
        return v[-1]
    if virtual < 0:
        return v[0]
    i = math.floor(virtual)
    gamma = virtual - i
    a, b = v[i], v[i + 1]
    d = b - a
    return b - d * (1.0 - gamma) if gamma >= 0.5 else a + d * gamma


def _column_breaks(columns: list[int]) -> np.ndarray | None:
    """Probability that each gap between neighbouring characters (their recogniser columns) is a section
    break: a wide step between columns compared with the usual step."""
    if len(columns) < 2:
        return None
    d = np.diff(np.asarray(columns, np.float64))
    ref = max(1.0, small_median(d.tolist()))
    return 0.3 + 0.5 / (1.0 + np.exp(-(d / ref - 1.45) * 6.0))


def _remove_frame(binimg: np.ndarray) -> None:
    """Clear the plate's frame from a binary plate image: long horizontal runs (rows mostly set) and
    mostly-set columns near the sides, so that characters touching the frame separate from it."""
    h, w = binimg.shape
    rows = (binimg > 0).mean(axis=1)
    binimg[rows > 0.7, :] = 0
    cols = (binimg > 0).mean(axis=0)
    edge = max(2, w // 12)
    side = np.zeros(w, bool)
    side[:edge] = True
    side[-edge:] = True
    binimg[:, side & (cols > 0.6)] = 0


def _agreeing(cands: list[_Candidate]) -> int:
    """How many confident readings agree on the most common plate."""
    counts: dict[str, int] = {}
    for c in cands:
        if c.plate and c.raw_conf > 0.9:
            counts[c.plate] = counts.get(c.plate, 0) + 1
    return max(counts.values(), default=0)


def _split_wide(chars: list[_Comp], binimg: np.ndarray, min_ratio: float = 1.25) -> list[_Comp]:
    """Split components wider than a character (touching characters) at the weakest columns."""
    out: list[_Comp] = []
    for c in chars:
        if c.w <= min_ratio * c.h:
            out.append(c)
            continue
        k = max(2, int(round(c.w / (0.7 * c.h))))
        cols = (binimg[c.y: c.y + c.h, c.x: c.x + c.w] > 0).sum(axis=0).astype(np.float32)
        cuts = [0]
        for j in range(1, k):
            centre = int(c.w * j / k)
            lo, hi = max(cuts[-1] + 2, centre - int(0.18 * c.w / k * 2)), min(c.w - 2, centre + int(0.18 * c.w))
            if hi <= lo:
                continue
            cuts.append(lo + int(np.argmin(cols[lo:hi])))
        cuts.append(c.w)
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            if b - a >= 2:
                sub = binimg[c.y: c.y + c.h, c.x + a: c.x + b]
                rows = np.nonzero(sub.any(axis=1))[0]
                y0, y1 = (int(rows[0]), int(rows[-1]) + 1) if len(rows) else (0, c.h)
                if y1 - y0 < 0.6 * c.h:
                    continue
                out.append(_Comp(c.x + a, c.y + y0, b - a, y1 - y0))
    return out


def _break_probs(chars: list[_Comp]) -> np.ndarray:
    """Probability that each gap between neighbouring characters is a section break (a wide gap)."""
    if len(chars) < 2:
        return np.zeros(0)
    gaps = np.array([b.x - (a.x + a.w) for a, b in zip(chars[:-1], chars[1:], strict=True)], np.float64)
    h = small_median([c.h for c in chars])
    # gaps inside a section are a fraction of the character height; with few characters every gap may be a
    # section gap, so the reference is capped by the height
    ref = max(0.08 * h, min(0.22 * h, small_percentile(gaps.tolist(), 30)))
    ratio = gaps / ref
    # a section gap is about a character width; inside a section, gaps are a stroke or two
    return 0.25 + 0.65 / (1.0 + np.exp(-(ratio - 1.8) * 4.0))


def _suppress_small_lines(cands: list[_Candidate]) -> list[_Candidate]:
    """Drop candidates that are a smaller line of text just under a bigger one (the validity line)."""
    out = []
    for c in cands:
        cx, cy, cw, ch = c.box
        hc = ch
        under = False
        for d in cands:
            if d is c:
                continue
            dx, dy, dw, dh = d.box
            hd = dh
            if (hc < 0.75 * hd and d.raw_conf >= 0.5 and dx - hd < cx + cw / 2 < dx + dw + hd
                    and dy + 0.8 * dh < cy + ch / 2 < dy + dh + 2.0 * hd):
                under = True
                break
        if not under:
            out.append(c)
    return out


def _near(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Same plate: boxes overlapping after growing ``b`` by its height (other polarity, validity line)."""
    bx, by, bw, bh = b
    grown = (bx - bh, by - bh, bw + 2 * bh, 3 * bh)
    return box_iou(a, grown) > 0 and _overlap(a, grown) > 0.5


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Share of ``a`` inside ``b``."""
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    ix = max(0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0))
    iy = max(0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    return ix * iy / max(1, aw * ah)


def _to_gray(image: np.ndarray | None) -> np.ndarray | None:
    if image is None or not isinstance(image, np.ndarray) or image.size == 0:
        return None
    if image.ndim == 2:
        return image if image.dtype == np.uint8 else np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return None


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


def _box_trust(box) -> float:
    """Factor on a reading's confidence from its detector box's score (1 from ``DET_SURE`` up)."""
    return min(1.0, float(getattr(box, "score", 1.0)) / DET_SURE)


def _thin_end_dropped(short: str, long: str) -> bool:
    """``short`` is ``long`` less an ``I`` (or ``1``) at its start or its end."""
    if len(short) != len(long) - 1 or not short:
        return False
    return (long[-1] in "I1" and long[:-1] == short) or (long[0] in "I1" and long[1:] == short)
