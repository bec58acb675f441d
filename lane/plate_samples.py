"""Plate crops that an officer labelled, kept as the site's own training and test data for the reader.

Why: the reader is short of real Indonesian plates with honest ground truth (a few dozen in
``../shared/datasets``), and a lane makes them every day: whenever the entry camera's read was not sure
enough, an officer confirms or types the plate, and whenever a bound plate was wrong, an officer corrects it.
The camera's crop with the officer's plate is exactly the labelled sample the reader needs (a correction of a
confident read is the most valuable of all). Reads the reader was sure of are *not* kept: labelling them with
the reader's own answer would teach it its own mistakes.

Layout of ``directory`` (the ``plate_samples_dir`` setting; nothing is kept when it is unset):
``<visit id>.jpg`` (the grey crop as the camera sent it) and ``labels.tsv`` with the header
``image plate read confidence kind recorded_at``: the first two columns are those of the shared dataset's
``id-crops-dev.tsv``, so ``vision.datasets.labelled_crops`` reads both, ``lajur bench vision --samples DIR``
measures the reader on them and ``python -m vision.train_recognizer --samples DIR`` trains on their dev
split. Plates and vehicle pictures identify people's cars: the directory is created private to the service's
user (0700), the plate is never logged here, and the site decides how long it keeps the files.

Writing is best effort: a full disk or a read-only directory is logged and the visit goes on.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)

HEADER = "image\tplate\tread\tconfidence\tkind\trecorded_at"
LABELS = "labels.tsv"
KINDS = ("confirmed", "typed", "corrected")
"""confirmed: the officer kept the camera's unsure read; typed: the officer gave another plate (or the
camera read none); corrected: a plate bound from the camera was changed after admission."""
_SAFE_ID = re.compile(r"[^A-Za-z0-9_.-]")


class PlateSamples:
    """Appends labelled plate crops to ``directory`` (created on first use)."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()

    def record(self, visit_id: str, crop_jpeg: bytes, plate: str, *, read: str | None, confidence: float,
               kind: str, at: datetime) -> Path | None:
        """Keep one sample; returns its image's path, or None when it could not be written (logged)."""
        if kind not in KINDS:
            raise ValueError(f"unknown sample kind {kind!r}: expected one of {', '.join(KINDS)}")
        if not crop_jpeg or not plate:
            return None
        name = _SAFE_ID.sub("_", visit_id) + ".jpg"
        row = "\t".join([name, plate, read or "", f"{float(confidence):.4f}", kind, at.isoformat()])
        try:
            with self._lock:
                self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                image = self.directory / name
                tmp = image.with_suffix(".jpg.tmp")
                tmp.write_bytes(crop_jpeg)
                os.replace(tmp, image)  # a crash never leaves half an image under the label's name
                labels = self.directory / LABELS
                new = not labels.exists() or labels.stat().st_size == 0
                with labels.open("a", encoding="utf-8") as f:
                    if new:
                        f.write(HEADER + "\n")
                    f.write(row + "\n")
        except OSError as exc:
            log.warning("plate sample of visit %s not kept in %s: %s", visit_id, self.directory, exc)
            return None
        return image
