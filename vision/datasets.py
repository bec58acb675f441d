"""Real photographs for development (read in place from the shared datasets directory, never copied).

Every shared set is split **by vehicle** (the plate's text, ``vehicle_split``), so that one car photographed
twice, or cut from two photographs, is never on both sides, and a plate that is in two sets (an Indonesian crop
and a scene) is on the same side in both:

* ``test``: reported figures only; never trained, tuned or calibrated on;
* ``cal``: kept out of every training, for fitting the confidence calibration and for choosing between models;
* ``train``: what the networks learn from; ``dev`` is ``train`` and ``cal`` together.

For the Indonesian sets (``id_crops``: the ``id-crops-train`` and ``id-crops-dev`` folders as one set;
``id_scenes``) a hash of the plate text gives 30 % test, 15 % cal, 55 % train. The networks shipped before
this split (2026-12) had learned from the ``dev`` half of the older split by photograph name (``split_of``:
``id-crops-dev`` and the US scenes); those plates are never test (they stay on their old side: train, or cal
when in the old calibration fold), so a figure on a test part is never one of a network that saw it. The US
scenes' test part is every plate those networks never saw (about 60 %).

``split_of`` (by the image's name) still splits the crops a lane kept (``labelled_crops``: one visit, one
sample).
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEV_SHARE = 4  # of 10
TEST_PCT, CAL_PCT = 30, 15  # vehicle_split: per cent of the plates
SPLITS = ("train", "cal", "test")


@dataclass(frozen=True)
class Sample:
    path: Path
    plate: str
    bbox: tuple[int, int, int, int] | None = None


def default_root() -> Path:
    """``../shared/datasets`` relative to the repository root."""
    return Path(__file__).resolve().parents[2] / "shared" / "datasets"


def split_of(name: str) -> str:
    group = name.rsplit(".", 1)[0].split("_")[0]
    return "dev" if zlib.crc32(group.encode()) % 10 < DEV_SHARE else "test"


def vehicle_key(plate: str) -> str:
    """The plate's text as a vehicle's identity: letters and digits, O read as 0 and I as 1 (one glyph)."""
    p = "".join(ch for ch in plate.upper() if ch.isalnum())
    return p.replace("O", "0").replace("I", "1")


def _rows(tsv: Path) -> list[list[str]]:
    return [ln.split("\t") for ln in tsv.read_text().splitlines()[1:] if ln.strip()]


@functools.lru_cache(maxsize=4)
def _seen(root: Path) -> dict[str, str]:
    """Plates (``vehicle_key``) the networks shipped before the vehicle split learned from or were calibrated
    on (the old ``dev`` side of ``id-crops-dev`` and the US scenes): their side, ``train`` or ``cal``."""
    from vision.calibrate import calibration_fold

    seen: dict[str, str] = {}
    for tsv, col in ((root / "id-crops-dev.tsv", 1), (root / "openalpr-us.tsv", 5)):
        if not tsv.is_file():
            continue
        for parts in _rows(tsv):
            if len(parts) > col and split_of(parts[0]) == "dev":
                key = vehicle_key(parts[col])
                side = "cal" if calibration_fold(parts[0]) else "train"
                if seen.get(key) != "train":  # seen in training anywhere: train
                    seen[key] = side
    return seen


def vehicle_split(plate: str, root: Path | None = None, us: bool = False) -> str:
    """``train``, ``cal`` or ``test`` for a vehicle (its plate text), the same in every set (module doc)."""
    key = vehicle_key(plate)
    seen = _seen(((root or default_root()) / "plates").resolve())
    if key in seen:
        return seen[key]
    if us:  # every US plate the shipped networks never saw
        return "test"
    h = zlib.crc32(("vehicle:" + key).encode()) % 100
    return "test" if h < TEST_PCT else "cal" if h < TEST_PCT + CAL_PCT else "train"


def _in_split(plate: str, split: str | None, root: Path, us: bool = False) -> bool:
    if not split:
        return True
    side = vehicle_split(plate, root, us)
    return side in ("train", "cal") if split == "dev" else side == split


def id_crops(root: Path | None = None, split: str | None = None) -> list[Sample]:
    """The real Indonesian plate crops (``id-crops-train`` and ``id-crops-dev`` as one set), ``split`` one of
    ``train``, ``cal``, ``test``, ``dev`` (train + cal) or None (all)."""
    base = root or default_root()
    root = base / "plates"
    out = []
    for folder in ("id-crops-train", "id-crops-dev"):
        tsv = root / f"{folder}.tsv"
        if not tsv.is_file():
            continue
        for parts in _rows(tsv):
            if len(parts) >= 2 and _in_split(parts[1], split, base):
                out.append(Sample(root / folder / parts[0], parts[1]))
    return out


def id_scenes(root: Path | None = None, split: str | None = None) -> list[Sample]:
    """The real Indonesian street scenes (416x416, stretched to a square by their source), one plate each with
    its hand-drawn box."""
    base = root or default_root()
    root = base / "plates"
    out = []
    for parts in _rows(root / "id-scenes.tsv"):
        if len(parts) >= 6 and _in_split(parts[5], split, base):
            x, y, w, h = (int(v) for v in parts[1:5])
            out.append(Sample(root / "id-scenes" / parts[0], parts[5], (x, y, w, h)))
    return out


def labelled_crops(directory: Path, split: str | None = None) -> list[Sample]:
    """Plate crops kept by a lane with the plate an officer gave them (``lane/plate_samples.py``: ``labels.tsv``
    beside the images; the shared ``id-crops-dev`` folder's layout too). A crop labelled twice (a plate
    corrected again) has its last label; a row whose image is gone is skipped. Split like the shared crops,
    by the image's name (one visit, one sample)."""
    directory = Path(directory)
    labels = directory / "labels.tsv"
    if not labels.is_file():
        raise FileNotFoundError(f"{labels}: no labelled plate crops there")
    last: dict[str, str] = {}
    for line in labels.read_text(encoding="utf-8").splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0] and parts[1]:
            last[parts[0]] = parts[1]
    return [Sample(directory / name, plate) for name, plate in last.items()
            if (directory / name).is_file() and _kept_in_split(name, split)]


def _kept_in_split(name: str, split: str | None) -> bool:
    """A lane's kept crop by its name: ``dev``/``test`` (``split_of``); ``cal`` is dev's calibration fold
    (``vision.calibrate.calibration_fold``), ``train`` the rest of dev."""
    from vision.calibrate import calibration_fold

    if not split:
        return True
    side = split_of(name)
    if split in ("cal", "train"):
        return side == "dev" and calibration_fold(name) == (split == "cal")
    return side == split


def us_scenes(root: Path | None = None, split: str | None = None) -> list[Sample]:
    """The US scenes (OpenALPR benchmark), split by vehicle (``vehicle_split``)."""
    base = root or default_root()
    root = base / "plates"
    tsv = root / "openalpr-us.tsv"
    out = []
    for parts in _rows(tsv):
        if len(parts) < 6 or not _in_split(parts[5], split, base, us=True):
            continue
        x, y, w, h = (int(v) for v in parts[1:5])
        out.append(Sample(root / "openalpr-us" / parts[0], parts[5], (x, y, w, h)))
    return out


def real_dev_chars(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """Character features from the dev split: segment each dev crop with the current reader and keep the
    segments when their count equals the label's length (labels then align one to one)."""
    import cv2

    from vision.classifier import features
    from vision.grammar import CLASS_INDEX, normalise
    from vision.reader import PlateReader

    X, y = [], []
    for fmt, samples in (("id", id_crops(root, "dev")), ("generic", us_scenes(root, "dev"))):
        reader = PlateReader(fmt)
        for s in samples:
            img = cv2.imread(str(s.path))
            if img is None:
                continue
            if s.bbox is not None:
                x, yy, w, h = s.bbox
                mx, my = int(w * 0.15), int(h * 0.25)
                img = img[max(0, yy - my): yy + h + my, max(0, x - mx): x + w + mx]
            label = normalise(s.plate)
            for patch in reader.segment_patches(img):
                if len(patch) == len(label):
                    for p, ch in zip(patch, label, strict=True):
                        X.append(features(p))
                        y.append(CLASS_INDEX[ch])
                    break
    if not X:
        return np.zeros((0, 1), np.float32), np.zeros(0, np.int64)
    return np.stack(X), np.array(y, np.int64)
