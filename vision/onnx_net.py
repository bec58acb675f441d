"""Running the shipped ONNX networks (detector, box refiner, recogniser): one place, one engine for all.

Two engines compute the same outputs from the same file (``tests/vision/test_onnx_net.py``: within 1e-4):

- ``onnxruntime`` (a declared dependency) when it imports: on one core it runs these small convolution nets
  in about half of ``cv2.dnn``'s time (detector 2.5 against 4.9 ms, recogniser 0.7 against 1.6 ms for two
  crops; ``python bench/vision.py --engine`` compares them), which is what brings a lane frame's full read
  under the issue's 20 ms.
- ``cv2.dnn`` otherwise (or with ``LAJUR_VISION_ENGINE=opencv``): OpenCV's classic engine where the
  installed OpenCV has the choice, about a fifth faster here than OpenCV 5's default graph engine with the
  same outputs (OpenCV 4 has only the classic one).

Either way the file is the project's own (trained by ``vision.train_detector`` / ``vision.train_recognizer``
and shipped in ``vision/data``); nothing is downloaded. Threads: as many as OpenCV is set to use
(``cv2.setNumThreads``; the benchmark sets one), so one setting governs the whole reader.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

__all__ = ["ENGINES", "EngineSettingError", "OnnxNet", "default_engine", "read_onnx", "use_engine"]

ENGINES = ("onnxruntime", "opencv")
ENGINE_ENV = "LAJUR_VISION_ENGINE"
"""The environment variable of the ``vision_engine`` setting (named in messages)."""


class EngineSettingError(RuntimeError):
    """The engine asked for (``LAJUR_VISION_ENGINE`` or ``OnnxNet(engine=...)``) is unknown or not installed.
    Not a ``ValueError``: the reader falls back to its segmenting reader when a model *file* is bad, and a
    misconfigured engine must not pass silently as that."""


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        return None
    return onnxruntime


_asked: str | None = None
"""The engine the site's settings ask for (``use_engine``; the setting ``vision_engine``, ``ENGINE_ENV``)."""


def use_engine(name: str | None) -> None:
    """What the site's ``vision_engine`` setting asks for (None: the default); checked by ``default_engine``."""
    global _asked
    _asked = name


def default_engine() -> str:
    """``onnxruntime`` when it is installed, unless the ``vision_engine`` setting (``LAJUR_VISION_ENGINE``,
    given to :func:`use_engine`) says ``opencv``."""
    asked = (_asked or "").strip().lower()
    if asked and asked not in ENGINES:
        raise EngineSettingError(f"{ENGINE_ENV}={asked!r}: expected one of {', '.join(ENGINES)}")
    if asked == "opencv":
        return "opencv"
    if _onnxruntime() is None:
        if asked == "onnxruntime":
            raise EngineSettingError(f"{ENGINE_ENV}=onnxruntime but onnxruntime is not installed")
        return "opencv"
    return "onnxruntime"


def read_onnx(path: Path | str) -> cv2.dnn.Net:
    """The file as a ``cv2.dnn.Net`` on the classic engine where OpenCV has the choice."""
    engine = getattr(cv2.dnn, "ENGINE_CLASSIC", None)
    if engine is None:
        return cv2.dnn.readNetFromONNX(str(path))
    return cv2.dnn.readNetFromONNX(str(path), engine)


class OnnxNet:
    """One network with one input and one output: ``run(blob)`` gives the output array. Safe to call from
    several threads (a ``cv2.dnn.Net`` is not: it is run under a lock)."""

    def __init__(self, path: Path | str, engine: str | None = None) -> None:
        self.path = Path(path)
        self.engine = engine or default_engine()
        if self.engine not in ENGINES:
            raise EngineSettingError(f"unknown engine {self.engine!r}: expected one of {', '.join(ENGINES)}")
        self._lock = threading.Lock()
        if self.engine == "onnxruntime":
            ort = _onnxruntime()
            if ort is None:
                raise EngineSettingError("onnxruntime is not installed")
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = max(1, cv2.getNumThreads())
            opts.inter_op_num_threads = 1
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-waiting threads
            opts.log_severity_level = 3
            self._session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
            self._input = self._session.get_inputs()[0].name
            self._net = None
        else:
            self._session = None
            self._net = read_onnx(self.path)

    def run(self, blob: np.ndarray) -> np.ndarray:
        """Forward pass of a float32 NCHW blob."""
        if self._session is not None:
            return self._session.run(None, {self._input: np.ascontiguousarray(blob, dtype=np.float32)})[0]
        with self._lock:
            self._net.setInput(blob)
            return self._net.forward()
