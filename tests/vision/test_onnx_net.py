"""The shipped networks compute the same outputs whichever engine runs them: onnxruntime (the default where
it is installed), OpenCV's classic dnn engine (the fallback) and OpenCV's default engine."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vision.onnx_net import ENGINE_ENV, EngineSettingError, OnnxNet, default_engine, read_onnx, use_engine

DATA = Path(__file__).resolve().parents[2] / "vision" / "data"
NETS = [
    ("detector.onnx", (1, 3, 288, 512)),
    ("detector_refine.onnx", (3, 3, 64, 128)),
    ("recognizer.onnx", (4, 1, 32, 128)),
    ("recognizer_id.onnx", (4, 1, 32, 128)),
]


@pytest.mark.parametrize("name,shape", NETS)
def test_classic_engine_gives_the_default_engines_outputs(name, shape):
    blob = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    ours, default = read_onnx(DATA / name), cv2.dnn.readNetFromONNX(str(DATA / name))
    outs = []
    for net in (ours, default):
        net.setInput(blob)
        outs.append(net.forward())
    assert outs[0].shape == outs[1].shape
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-4)


@pytest.mark.parametrize("name,shape", NETS)
def test_onnxruntime_gives_opencvs_outputs(name, shape):
    pytest.importorskip("onnxruntime")
    blob = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    fast, cv = OnnxNet(DATA / name, "onnxruntime"), OnnxNet(DATA / name, "opencv")
    a, b = fast.run(blob), cv.run(blob)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, atol=1e-4)


@pytest.fixture
def engine_setting():
    """The site's ``vision_engine`` setting, as the composition root hands it over; reset after."""
    yield use_engine
    use_engine(None)


def test_engine_setting(engine_setting):
    engine_setting("opencv")
    assert default_engine() == "opencv"
    assert OnnxNet(DATA / "detector_refine.onnx").engine == "opencv"
    engine_setting("tensorrt")
    with pytest.raises(EngineSettingError, match=f"{ENGINE_ENV}='tensorrt'"):
        default_engine()
    engine_setting(None)
    pytest.importorskip("onnxruntime")
    assert default_engine() == "onnxruntime"


def test_a_misconfigured_engine_is_an_error_not_a_fallback(engine_setting):
    """A bad model file makes the reader fall back to its segmenting reader (``ValueError``/``OSError``);
    an engine setting that cannot be met must not pass silently as that."""
    from vision.detector import PlateDetector
    from vision.recognizer import MODEL_PATH, Recognizer

    engine_setting("tensorrt")
    with pytest.raises(EngineSettingError):
        Recognizer(MODEL_PATH)
    with pytest.raises(EngineSettingError):
        PlateDetector()
    assert not issubclass(EngineSettingError, (ValueError, OSError))
