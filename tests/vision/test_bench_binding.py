"""The lane binding benchmark (bench/vision_binding.py): frames of a still car, the vote, the counts."""

import json

import numpy as np
import pytest

from bench import vision_binding as vb
from vision.datasets import default_root
from vision.reader import PlateReading


def _reading(plate, conf, disputed=False):
    return PlateReading(plate, conf, (0, 0, 1, 1), 1.0, disputed=disputed)


def test_still_frames_differ_a_little_and_keep_the_picture():
    img = np.random.default_rng(0).integers(0, 255, (60, 120, 3), dtype=np.uint8)
    frames = vb.still_frames(img, 3, np.random.default_rng(1))
    assert len(frames) == 3 and all(f.shape == img.shape and f.dtype == np.uint8 for f in frames)
    assert not np.array_equal(frames[0], frames[1])
    assert all(np.abs(f.astype(int) - img).mean() < 80 for f in frames)


def test_a_plate_is_bound_only_at_the_threshold_and_counted_right_or_wrong():
    sure = [_reading("AD1234XY", 0.95)]
    doubtful = [_reading("AD1234XZ", 0.7)]
    disputed = [_reading("AD1234XY", 0.5, disputed=True)] * 5
    assert vb.bind(sure, "id", 0.9)[0] == "AD1234XY"
    assert vb.bind(doubtful, "id", 0.6)[0] == "AD1234XZ" and vb.bind(doubtful, "id", 0.9)[0] is None
    assert vb.bind(disputed, "id", 0.6)[0] is None  # repeated disputed frames do not add up
    out = vb.outcomes([(sure, "AD 1234 XY", "id"), (doubtful, "AD1234XY", "id"), (disputed, "AD1234XY", "id")])
    assert out["0.6"] == {"n": 3, "bound": 2, "wrong": 1, "officer": 1, "bound_share": 2 / 3,
                          "right_when_bound": 0.5}
    assert out["0.9"]["bound"] == 1 and out["0.9"]["wrong"] == 0 and out["0.9"]["officer"] == 2


@pytest.mark.skipif(not (default_root() / "plates").is_dir(), reason="shared datasets not found")
def test_the_benchmark_prints_each_set_and_threshold(capsys):
    assert vb.main(["--split", "cal", "--n", "2", "--limit", "3", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(figures["sets"]) == {"us", "id-crops", "rendered"}
    assert set(figures["sets"]["rendered"]) == {"0.6", "0.9"} and figures["sets"]["rendered"]["0.9"]["n"] == 2
    assert figures["sets"]["id-crops"]["0.9"]["n"] == figures["sets"]["us"]["0.9"]["n"] == 3
