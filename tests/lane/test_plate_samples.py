"""Plate crops an officer labelled, kept for the reader: the files a technician hands to training."""

from __future__ import annotations

import logging
import stat
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from lane.plate_samples import HEADER, PlateSamples
from vision.datasets import labelled_crops, split_of

AT = datetime(2026, 12, 2, 8, 30, tzinfo=UTC)


def _jpeg(value: int = 40) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((40, 120), value, np.uint8))
    assert ok
    return buf.tobytes()


def test_samples_are_kept_in_the_shared_crops_layout_and_read_back(tmp_path):
    store = PlateSamples(tmp_path / "samples")
    path = store.record("lane-1-20261202-0001", _jpeg(), "H1234AB", read="H1234A8", confidence=0.42,
                        kind="typed", at=AT)
    store.record("lane-1-20261202-0002", _jpeg(90), "AD5678XY", read=None, confidence=0.0, kind="typed", at=AT)
    assert path is not None and path.read_bytes() == _jpeg()
    lines = (tmp_path / "samples" / "labels.tsv").read_text().splitlines()
    assert lines[0] == HEADER and len(lines) == 3
    assert lines[1].split("\t")[:5] == ["lane-1-20261202-0001.jpg", "H1234AB", "H1234A8", "0.4200", "typed"]
    assert stat.S_IMODE((tmp_path / "samples").stat().st_mode) == 0o700  # vehicles and plates: private
    got = {s.path.name: s.plate for s in labelled_crops(tmp_path / "samples")}
    assert got == {"lane-1-20261202-0001.jpg": "H1234AB", "lane-1-20261202-0002.jpg": "AD5678XY"}
    # split like the shared crops, by name: each sample on exactly one side
    dev = labelled_crops(tmp_path / "samples", "dev")
    test = labelled_crops(tmp_path / "samples", "test")
    assert len(dev) + len(test) == 2 and all(split_of(s.path.name) == "dev" for s in dev)


def test_a_plate_corrected_again_has_its_last_label(tmp_path):
    store = PlateSamples(tmp_path)
    store.record("lane-1-20261202-0007", _jpeg(), "B1234XY", read="B1234XV", confidence=0.5, kind="typed", at=AT)
    store.record("lane-1-20261202-0007", _jpeg(), "B1234XYZ", read="B1234XY", confidence=1.0, kind="corrected",
                 at=AT)
    [sample] = labelled_crops(tmp_path)
    assert sample.plate == "B1234XYZ"


def test_a_disk_that_refuses_loses_the_sample_not_the_visit(tmp_path, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the directory should be")
    with caplog.at_level(logging.WARNING, logger="lane.plate_samples"):
        assert PlateSamples(blocker / "samples").record("lane-1-x", _jpeg(), "H1234AB", read=None,
                                                        confidence=0.0, kind="typed", at=AT) is None
    assert "not kept" in caplog.text and "H1234AB" not in caplog.text  # the plate is not logged


def test_nothing_to_keep_without_a_crop_or_a_plate_and_kinds_are_checked(tmp_path):
    store = PlateSamples(tmp_path)
    assert store.record("v", b"", "H1234AB", read=None, confidence=0.0, kind="typed", at=AT) is None
    assert not (tmp_path / "labels.tsv").exists()
    with pytest.raises(ValueError, match="kind"):
        store.record("v", _jpeg(), "H1234AB", read=None, confidence=0.0, kind="guessed", at=AT)


def test_a_directory_without_labels_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="labels.tsv"):
        labelled_crops(tmp_path)
