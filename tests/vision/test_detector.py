"""Plate detector: finds the plate in rendered lane frames, nothing in blank frames, robust input handling."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.plate_render import random_id_plate, render_scene
from vision.datasets import default_root, us_scenes
from vision.detector import MODEL_PATH, REFINE_NAME, PlateBox, PlateDetector, get_detector


def iou(a: PlateBox, b: tuple[int, int, int, int]) -> float:
    bx, by, bw, bh = b
    ix = max(0, min(a.x + a.w, bx + bw) - max(a.x, bx))
    iy = max(0, min(a.y + a.h, by + bh) - max(a.y, by))
    inter = ix * iy
    return inter / (a.w * a.h + bw * bh - inter)


def coverage(a: PlateBox, b: tuple[int, int, int, int]) -> float:
    bx, by, bw, bh = b
    ix = max(0, min(a.x + a.w, bx + bw) - max(a.x, bx))
    iy = max(0, min(a.y + a.h, by + bh) - max(a.y, by))
    return ix * iy / (bw * bh)


@pytest.fixture(scope="module")
def det() -> PlateDetector:
    return get_detector()


def test_model_is_shipped_and_small(det):
    assert MODEL_PATH.exists()
    refine = MODEL_PATH.with_name(REFINE_NAME)
    assert MODEL_PATH.stat().st_size + (refine.stat().st_size if refine.exists() else 0) < 2_000_000
    assert det.learned


def test_get_detector_is_cached():
    assert get_detector() is get_detector()


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_finds_plate_in_rendered_frame(det, seed):
    rng = np.random.default_rng(seed)
    img, bbox = render_scene(random_id_plate(rng), seed=seed, style="white" if seed % 2 else "black")
    boxes = det.detect(img)
    assert boxes, "no plate found"
    best = boxes[0]
    assert isinstance(best, PlateBox)
    assert iou(best, bbox) >= 0.5
    assert 0.0 <= best.score <= 1.0
    # padded: (nearly all of) the plate is inside the prediction
    assert coverage(best, bbox) >= 0.85


def test_grey_input_works(det):
    img, bbox = render_scene("B 1234 XY", seed=11)
    grey = img.mean(axis=2).astype(np.uint8)
    boxes = det.detect(grey)
    assert boxes and iou(boxes[0], bbox) >= 0.5
    boxes1 = det.detect(grey[:, :, None])
    assert boxes1 and iou(boxes1[0], bbox) >= 0.5


@pytest.mark.parametrize("value", [0, 128, 255])
def test_uniform_image_gives_nothing(det, value):
    assert det.detect(np.full((720, 1280, 3), value, np.uint8)) == []


def test_tiny_and_odd_images(det):
    assert det.detect(np.zeros((4, 4, 3), np.uint8)) == []
    assert det.detect(np.zeros((0, 0, 3), np.uint8)) == []
    out = det.detect(np.random.default_rng(0).integers(0, 255, (37, 53, 3), dtype=np.uint8))
    assert isinstance(out, list)
    assert det.detect(np.zeros((720, 1280, 3), np.uint8), max_plates=0) == []


def test_max_plates_and_boxes_inside_image(det):
    img, _ = render_scene("AD 77 B", seed=21)
    boxes = det.detect(img, max_plates=1)
    assert len(boxes) <= 1
    for b in det.detect(img, max_plates=5):
        assert 0 <= b.x and 0 <= b.y and b.x + b.w <= img.shape[1] and b.y + b.h <= img.shape[0]


def test_bad_input_raises_clear_error(det):
    with pytest.raises(TypeError):
        det.detect(np.zeros((100, 100, 3), np.float32))
    with pytest.raises(TypeError):
        det.detect([[0, 1], [2, 3]])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        det.detect(np.zeros((10, 10, 2), np.uint8))


_ROOT = default_root()


@pytest.mark.skipif(not (_ROOT / "plates" / "openalpr-us.tsv").exists(), reason="shared datasets not present")
def test_finds_plate_in_some_dev_photographs(det):
    import cv2

    samples = us_scenes(_ROOT, "dev")[:6]
    hits = 0
    for s in samples:
        img = cv2.imread(str(s.path))
        boxes = det.detect(img, max_plates=3)
        hits += any(iou(b, s.bbox) >= 0.5 for b in boxes)
    assert hits >= len(samples) - 1
