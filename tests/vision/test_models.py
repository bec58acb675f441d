"""A site's own learned files (``vision/models.py``): what a lane reads with when ``plate_models_dir`` is set."""

from pathlib import Path

import pytest

import vision.detector as det
import vision.recognizer as rec
from simulators.plate_render import render_plate
from tests.fixtures.plate_models import site_models_dir
from vision.models import ModelDirectoryError, current_directory, use_directory
from vision.reader import PlateReader

DATA = Path(rec.__file__).with_name("data")
PLATE = render_plate("AB 1234 CD", seed=3)


@pytest.fixture(autouse=True)
def shipped_files_afterwards():
    yield
    use_directory(None)


def site_directory(tmp_path: Path) -> Path:
    return site_models_dir(tmp_path / "site-models")


def test_the_reader_reads_with_the_sites_files_and_the_shipped_ones_for_the_rest(tmp_path):
    site = site_directory(tmp_path)
    shipped = {p.name: p.read_bytes() for p in DATA.iterdir() if p.is_file()}
    assert PlateReader("id").read_crop(PLATE).confidence > 0.5

    assert use_directory(site) == ["recognizer_id.npz", "calibration.json"]

    assert current_directory() == site
    assert rec.get_recognizer("id").path == site / "recognizer_id.npz"
    assert rec.get_recognizer("generic").path == rec.MODEL_PATH  # the site did not replace it
    assert det.get_detector().model_path == det.MODEL_PATH
    r = PlateReader("id").read_crop(PLATE)
    assert r.plate == "AB1234CD" and r.confidence < 0.05  # its calibration, not the shipped one
    assert {p.name: p.read_bytes() for p in DATA.iterdir() if p.is_file()} == shipped

    assert use_directory(None) == []
    assert rec.get_recognizer("id").path == rec.ID_MODEL_PATH
    assert PlateReader("id").read_crop(PLATE).confidence > 0.5


def test_a_network_without_its_own_calibration_is_refused(tmp_path):
    """Another network's calibration could call a wrong plate sure: the lane does not start with it."""
    site = site_directory(tmp_path)
    (site / "calibration.json").unlink()
    with pytest.raises(ModelDirectoryError, match=r"no calibration\.json .*--calibrate --models"):
        use_directory(site)
    assert current_directory() is None and rec.get_recognizer("id").path == rec.ID_MODEL_PATH


def test_a_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ModelDirectoryError, match="not a directory"):
        use_directory(tmp_path / "nope")


@pytest.mark.parametrize("name, content", [("recognizer_id.npz", b"not a network"),
                                           ("detector.onnx", b"\x00\x01 not onnx"),
                                           ("calibration.json", b"{not json"),
                                           ("calibration.json", b'{"id": {"points": [[0, 0], [1, 1]]}}')],
                         ids=["recogniser", "detector", "calibration-syntax", "calibration-without-generic"])
def test_a_file_that_does_not_load_is_named_and_the_reader_stays_as_it_was(tmp_path, name, content):
    site = site_directory(tmp_path)
    (site / name).write_bytes(content)
    with pytest.raises(ModelDirectoryError) as caught:
        use_directory(site)
    assert str(site) in str(caught.value) and name in str(caught.value)
    assert current_directory() is None
    assert rec.get_recognizer("id").path == rec.ID_MODEL_PATH
    assert det.get_detector().model_path == det.MODEL_PATH
    assert PlateReader("id").read_crop(PLATE).confidence > 0.5


def test_one_common_recogniser_in_the_directory_reads_every_format(tmp_path):
    site = site_models_dir(tmp_path / "common", networks=("recognizer.npz",))
    assert use_directory(site) == ["recognizer.npz", "calibration.json"]
    assert rec.get_recognizer("id").path == rec.get_recognizer("generic").path == site / "recognizer.npz"


def test_the_same_directory_named_again_is_checked_again(tmp_path):
    """A technician replaces the network in place and restarts: the new file is what is read, and a
    broken one is an error again, not the old network silently kept."""
    site = site_directory(tmp_path)
    use_directory(site)
    first = rec.get_recognizer("id")
    use_directory(site)
    assert rec.get_recognizer("id") is not first
    (site / "calibration.json").unlink()
    with pytest.raises(ModelDirectoryError, match="no calibration.json"):
        use_directory(site)
