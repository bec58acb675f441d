"""Where the plate reader's learned files come from: the ones shipped in ``vision/data``, or a site's own.

The shipped networks were trained on the project's data; a site that keeps its officers' labelled crops
(``plate_samples_dir``) can retrain on them (``python -m vision.train_recognizer --samples DIR``), fit a
calibration for the result (``python bench/vision.py --calibrate --models SITE_DIR``), compare it with the
shipped files on its own held-out crops (``python bench/vision.py --models SITE_DIR --samples DIR --split
test``) and then point the lane at ``SITE_DIR`` (the ``plate_models_dir`` setting,
``LAJUR_PLATE_MODELS_DIR``), without touching the installed package. ``bench vision --models`` reads a
candidate's directory by the same rules.

Rules (``use_directory``): each learned file found in the directory replaces the shipped file of that name,
every other one stays the shipped one; a ``recognizer.npz`` there is read for every plate format unless the
directory also has a ``recognizer_id.npz`` for ``id`` (a candidate is usually trained as one network). A
directory that replaces a network must bring its own ``calibration.json``: a network read with another
network's calibration can be confidently wrong, which is the one error the lane must not make.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

__all__ = ["CALIBRATION", "MODELS_DIR_ENV", "NETWORKS", "ModelDirectoryError", "current_directory",
           "site_file", "use_directory"]

log = logging.getLogger(__name__)

MODELS_DIR_ENV = "LAJUR_PLATE_MODELS_DIR"
"""The environment variable (the ``plate_models_dir`` setting) that ``lajur plate read`` also honours."""

NETWORKS = ("recognizer.npz", "recognizer_id.npz", "detector.onnx", "detector_refine.onnx", "chars.npz")
CALIBRATION = "calibration.json"

_directory: Path | None = None
_lock = threading.Lock()


class ModelDirectoryError(RuntimeError):
    """A models directory that cannot be read with: missing, without its calibration, or a file that does
    not load. The message names the directory and the file."""


def current_directory() -> Path | None:
    """The directory the reader takes learned files from before the shipped ones (None: shipped only)."""
    return _directory


def site_file(name: str) -> Path | None:
    """``name`` in the current models directory when it is there, else None (the shipped file is used)."""
    directory = _directory
    if directory is None:
        return None
    path = directory / name
    return path if path.is_file() else None


def use_directory(directory: Path | str | None, *, require_calibration: bool = True) -> list[str]:
    """Read with the learned files in ``directory`` from now on (None: the shipped files only again) and
    return the names taken from it. Every network it replaces is loaded here, so that a file that does not
    load is an error now, at start-up, and not at the first car. Raises ``ModelDirectoryError`` (and leaves
    the reader as it was) when the directory is missing or unreadable, or, with ``require_calibration``,
    replaces a network without bringing a ``calibration.json``.

    Readers made before the call keep the calibration they loaded: make ``PlateReader`` objects after it."""
    global _directory
    new = Path(directory).expanduser() if directory is not None else None
    with _lock:
        if new is None and _directory is None:
            return []  # a directory is read again each time: its files may have been replaced meanwhile
        if new is not None and not new.is_dir():
            raise ModelDirectoryError(f"plate models directory {new}: not a directory")
        names = _names(new)
        networks = [n for n in names if n != CALIBRATION]
        if new is not None and require_calibration and networks and CALIBRATION not in names:
            raise ModelDirectoryError(
                f"plate models directory {new}: it replaces {', '.join(networks)} but has no {CALIBRATION} "
                f"of its own; fit one first: python bench/vision.py --calibrate --models {new}")
        previous = _directory
        _directory = new
        _forget_loaded()
        try:
            _load(new, names)
        except Exception as exc:  # whatever a broken file raises (numpy, onnxruntime, OpenCV): one clear error
            _directory = previous
            _forget_loaded()
            raise ModelDirectoryError(f"plate models directory {new}: {exc}") from exc
    if new is not None:
        log.info("plate reader: learned files from %s: %s", new, ", ".join(names) or "none (all shipped)")
    return names


def _names(directory: Path | None) -> list[str]:
    if directory is None:
        return []
    return [n for n in (*NETWORKS, CALIBRATION) if (directory / n).is_file()]


def _forget_loaded() -> None:
    """Drop the cached networks so that the next read loads them by the current rules."""
    import vision.classifier as classifier
    import vision.detector as detector
    import vision.recognizer as recognizer

    with recognizer._LOCK:
        recognizer._INSTANCES = {}
    with detector._LOCK:
        detector._DETECTOR = None
    with classifier._lock:
        classifier._model = None


def _load(directory: Path | None, names: list[str]) -> None:
    """Load (and so check) each file ``directory`` replaces; the caches keep the loaded networks."""
    if directory is None:
        return
    from vision.classifier import get_classifier
    from vision.detector import get_detector
    from vision.recognizer import get_recognizer

    for name in names:
        try:
            if name in ("recognizer.npz", "recognizer_id.npz"):
                get_recognizer("id")
                get_recognizer("generic")
            elif name in ("detector.onnx", "detector_refine.onnx"):
                get_detector()
            elif name == "chars.npz":
                get_classifier()
            elif name == CALIBRATION:
                _check_calibration(directory / name)
        except Exception as exc:  # named here, turned into ModelDirectoryError by use_directory
            raise ValueError(f"{name}: {exc}") from exc


def _check_calibration(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    for fmt in ("id", "generic"):
        points = data.get(fmt, {}).get("points") if isinstance(data, dict) else None
        if not points or not all(len(p) == 2 and 0.0 <= float(p[1]) <= 1.0 for p in points):
            raise ValueError(f"no calibration curve for the {fmt!r} format")
