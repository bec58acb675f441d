"""Loading the shipped ONNX networks into ``cv2.dnn``: one place, so that every net runs on the same engine.

OpenCV 5 reads ONNX with its new graph engine by default ("auto"). For these small convolution nets
(detector, box refiner, recogniser) its classic engine is about a fifth faster on one core and gives the
same outputs within 1e-5 (``tests/vision/test_onnx_net.py``), so the classic one is asked for where the
installed OpenCV has the choice (OpenCV 4 has only that one).
"""

from __future__ import annotations

from pathlib import Path

import cv2


def read_onnx(path: Path | str) -> cv2.dnn.Net:
    engine = getattr(cv2.dnn, "ENGINE_CLASSIC", None)
    if engine is None:
        return cv2.dnn.readNetFromONNX(str(path))
    return cv2.dnn.readNetFromONNX(str(path), engine)
