"""The shipped networks run on OpenCV's classic dnn engine (faster here); they must compute what the
default engine computes from the same ONNX file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vision.onnx_net import read_onnx

DATA = Path(__file__).resolve().parents[2] / "vision" / "data"


@pytest.mark.parametrize("name,shape", [
    ("detector.onnx", (1, 3, 288, 512)),
    ("detector_refine.onnx", (3, 3, 64, 128)),
    ("recognizer.onnx", (4, 1, 32, 128)),
    ("recognizer_id.onnx", (4, 1, 32, 128)),
])
def test_classic_engine_gives_the_default_engines_outputs(name, shape):
    blob = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    ours, default = read_onnx(DATA / name), cv2.dnn.readNetFromONNX(str(DATA / name))
    outs = []
    for net in (ours, default):
        net.setInput(blob)
        outs.append(net.forward())
    assert outs[0].shape == outs[1].shape
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-4)
