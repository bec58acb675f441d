"""The vision benchmark's model comparison: ``--models DIR`` and ``--split cal`` (bench/vision.py)."""

import json
import shutil
from datetime import datetime
from pathlib import Path

import cv2
import pytest

import vision.detector as det
import vision.reader as reader_mod
import vision.recognizer as rec
from bench import vision as bench_vision
from simulators.plate_render import render_plate
from tests.fixtures.plate_models import site_models_dir
from vision.calibrate import calibration_fold
from vision.datasets import default_root, us_scenes, vehicle_split
from vision.models import use_directory
from vision.reader import PlateReader

DATA = Path(reader_mod.__file__).with_name("data")
ROOT = default_root()
needs_datasets = pytest.mark.skipif(not (ROOT / "plates" / "openalpr-us.tsv").exists(),
                                    reason="shared datasets not found at ../shared/datasets")


@pytest.fixture
def restore_models():
    """``use_models`` makes the reader take its learned files from a directory: back to the shipped ones."""
    yield
    use_directory(None)


def test_a_candidate_directory_is_read_with_its_own_files(tmp_path, restore_models):
    shipped_calibration = (DATA / "calibration.json").read_text()
    # a calibration that trusts nothing: every reading through it must come out unconfident
    site_models_dir(tmp_path, networks=("recognizer.npz", "recognizer.onnx"))
    img = render_plate("AB 1234 CD", seed=3)
    assert PlateReader("id").read_crop(img).confidence > 0.5

    used = bench_vision.use_models(tmp_path)

    assert used == ["recognizer.npz", "calibration.json"]  # the detector stays the shipped one
    r = PlateReader("id").read_crop(img)
    assert r.plate == "AB1234CD" and r.confidence < 0.05
    assert (DATA / "calibration.json").read_text() == shipped_calibration


def test_a_candidate_recogniser_replaces_every_formats_unless_an_id_one_is_there(tmp_path, restore_models):
    shutil.copy(DATA / "recognizer_id.npz", tmp_path / "recognizer_id.npz")
    assert bench_vision.use_models(tmp_path) == ["recognizer_id.npz"]
    assert rec.get_recognizer("id").path == tmp_path / "recognizer_id.npz"
    assert rec.get_recognizer("generic").path == rec.MODEL_PATH

    both = tmp_path / "both"
    both.mkdir()
    shutil.copy(DATA / "recognizer.npz", both / "recognizer.npz")
    assert bench_vision.use_models(both) == ["recognizer.npz"]
    assert rec.get_recognizer("id").path == rec.get_recognizer("generic").path == both / "recognizer.npz"


def test_a_missing_models_directory_is_a_clear_error(tmp_path, capsys, restore_models):
    assert bench_vision.main(["--models", str(tmp_path / "nope"), "--sets", "rendered", "--n", "1"]) == 2
    assert "not a directory" in capsys.readouterr().err


@needs_datasets
def test_the_cal_split_is_the_vehicle_splits_cal_part():
    fold = bench_vision.real_samples(us_scenes, ROOT, "cal")
    test_plates = {s.plate for s in us_scenes(ROOT, "test")}
    assert fold and all(vehicle_split(s.plate, ROOT, us=True) == "cal" for s in fold)
    assert {s.path.name for s in fold} <= {s.path.name for s in us_scenes(ROOT, "dev")}
    assert not test_plates & {s.plate for s in fold}


@needs_datasets
def test_the_benchmark_reads_the_cal_split(capsys):
    cv2.setNumThreads(1)
    assert bench_vision.main(["--sets", "us-crops", "--split", "cal", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["split"] == "cal"
    assert figures["sets"]["us-crops"]["n"] == len(bench_vision.real_samples(us_scenes, ROOT, "cal"))


def test_a_candidate_detector_without_its_refiner_keeps_the_shipped_refiner(tmp_path, restore_models):
    shutil.copy(DATA / "detector.onnx", tmp_path / "detector.onnx")
    assert bench_vision.use_models(tmp_path) == ["detector.onnx"]
    assert det._DETECTOR.model_path == tmp_path / "detector.onnx" and det._DETECTOR._refiner is not None


@needs_datasets
def test_jittered_boxes_read_each_photograph_near_its_plate_and_give_the_detector_back():
    fold = bench_vision.real_samples(us_scenes, ROOT, "cal")[:2]
    shipped = det.get_detector
    readings = list(bench_vision.jittered_readings(PlateReader("generic"), fold, per_image=2, seed=5))

    assert [s.path.name for s, _, _ in readings] == [s.path.name for s in fold for _ in range(2)]
    for s, r, _ in readings:  # the reading's box is the given one, around the labelled plate
        assert r.bbox is not None and det.box_iou(r.bbox, s.bbox) > 0.3
    assert det.get_detector is shipped
    # a caller that stops early (the generator closed half-way) gets the detector back too
    it = bench_vision.jittered_readings(PlateReader("generic"), fold, per_image=2, seed=5)
    next(it)
    assert det.get_detector is not shipped
    it.close()
    assert det.get_detector is shipped


@needs_datasets
def test_the_generic_calibration_rests_on_the_jittered_readings_too():
    """Fitted on about four readings a photograph of the calibration fold (a full frame, the crop at its
    box, three detector-like boxes; disputed ones left out), not two: one reading no longer moves it."""
    fitted = json.loads((DATA / "calibration.json").read_text())["generic"]
    fold = bench_vision.real_samples(us_scenes, ROOT, "cal")
    assert fitted["n"] > 2.5 * len(fold)


def test_the_crops_a_lane_kept_are_a_benchmark_set(tmp_path, capsys):
    """``--samples DIR``: the reader measured on the site's own labelled crops (``plate_samples_dir``)."""
    from datetime import UTC, datetime

    from lane.plate_samples import PlateSamples

    store = PlateSamples(tmp_path / "samples")
    at = datetime(2026, 12, 2, tzinfo=UTC)
    for i, plate in enumerate(("H 1234 AB", "AD 5678 XY", "B 42 Q")):
        ok, jpg = cv2.imencode(".jpg", render_plate(plate, seed=i))
        store.record(f"lane-1-20261202-{i:04d}", jpg.tobytes(), plate.replace(" ", ""), read=None,
                     confidence=0.0, kind="typed", at=at)
    assert bench_vision.main(["--sets", "", "--samples", str(tmp_path / "samples"), "--split", "all",
                              "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["sets"]["samples"]
    assert figures["n"] == 3 and figures["exact"] == 1.0
    assert bench_vision.main(["--sets", "", "--samples", str(tmp_path / "nowhere")]) == 2


def test_stages_say_where_a_frames_time_goes(capsys):
    """``--stages``: the mean time a rendered frame spends in each stage, and the reader left as it was."""
    before = {m: getattr(PlateReader, m) for m in ("_candidate", "_second_opinion")}
    assert bench_vision.main(["--sets", "rendered", "--n", "2", "--stages", "--json"]) == 0
    stages = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["sets"]["rendered"]["stages_ms"]
    assert set(stages) == {"detector", "first network", "refiner", "recogniser", "grammar", "second opinion"}
    assert all(v > 0 for v in stages.values())
    assert stages["first network"] + stages["refiner"] <= stages["detector"]
    assert {m: getattr(PlateReader, m) for m in before} == before


def test_calibrating_a_candidate_writes_its_own_file_and_fits_the_sites_held_out_crops(tmp_path, restore_models,
                                                                                        capsys):
    """``--calibrate --models DIR --samples KEPT``: the curve is written to DIR (the shipped one is untouched)
    and the ``id`` curve also takes in the calibration fold of the lane's kept crops, which training leaves
    out, so that the site's own plates decide what "sure" means for the site's own network."""
    from lane.plate_samples import PlateSamples
    from vision.datasets import labelled_crops
    from vision.models import current_directory

    kept = PlateSamples(tmp_path / "kept")
    for i in range(80):
        ok, jpeg = cv2.imencode(".jpg", render_plate(f"AB {1000 + i} CD", seed=i))
        kept.record(f"lane-1-20261202-{i:04d}", jpeg.tobytes(), f"AB{1000 + i}CD", read=None, confidence=0.0,
                    kind="typed", at=datetime(2026, 12, 2, 8, 0))
    fold = [s for s in labelled_crops(tmp_path / "kept", "dev") if calibration_fold(s.path.name)]
    assert fold  # the few crops training does not see
    candidate = tmp_path / "candidate"
    candidate.mkdir()
    shutil.copy(DATA / "recognizer_id.npz", candidate / "recognizer_id.npz")
    shipped_calibration = (DATA / "calibration.json").read_text()
    no_data = tmp_path / "no-shared-datasets"

    bench_vision.use_models(candidate)
    assert current_directory() == candidate
    assert bench_vision.calibrate(no_data) == 0
    without = json.loads((candidate / "calibration.json").read_text())["id"]["n"]
    assert bench_vision.calibrate(no_data, samples=tmp_path / "kept") == 0
    with_kept = json.loads((candidate / "calibration.json").read_text())["id"]["n"]

    assert with_kept - without == len(fold)
    assert f"{len(fold)} of the site's crops" in capsys.readouterr().out
    assert (DATA / "calibration.json").read_text() == shipped_calibration
