"""Real photographs for development (read in place from the shared datasets directory, never copied).

Fixed dev/test split, by a hash of the source photograph's name (Indonesian crops cut from one car photo,
``test001_1.jpg`` and ``test001_2.jpg``, stay on the same side): about 40 % dev (training character crops,
tuning, calibration) and 60 % test (reported figures only).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEV_SHARE = 4  # of 10


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


def id_crops(root: Path | None = None, split: str | None = None) -> list[Sample]:
    root = (root or default_root()) / "plates"
    tsv = root / "id-crops-dev.tsv"
    out = []
    for line in tsv.read_text().splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        if split and split_of(parts[0]) != split:
            continue
        out.append(Sample(root / "id-crops-dev" / parts[0], parts[1]))
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
            if (directory / name).is_file() and (not split or split_of(name) == split)]


def us_scenes(root: Path | None = None, split: str | None = None) -> list[Sample]:
    root = (root or default_root()) / "plates"
    tsv = root / "openalpr-us.tsv"
    out = []
    for line in tsv.read_text().splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) < 6:
            continue
        if split and split_of(parts[0]) != split:
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
