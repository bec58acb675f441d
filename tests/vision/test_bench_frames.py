"""``lajur bench frames``: multi-frame voting measured on shifted, rescaled, re-lit frames of one scene."""

import cv2
import numpy as np

from bench import vision_frames
from simulators.plate_render import render_scene
from vision.datasets import Sample


def test_the_frames_of_a_scene_are_the_scene_then_seeded_variations_of_it():
    img, _ = render_scene("AB 1067 GF", seed=2)
    a = vision_frames.frames_of(img, 4, seed=9)
    b = vision_frames.frames_of(img, 4, seed=9)
    assert len(a) == 4 and a[0] is img and all(f.shape == img.shape for f in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert all(not np.array_equal(a[0], f) for f in a[1:])


def test_a_car_read_over_frames_is_bound_once_and_right(tmp_path):
    samples = []
    for i, plate in enumerate(("AB 1067 GF", "H 4120 OY")):
        img, _ = render_scene(plate, seed=30 + i, perspective=False, blur=0.4, noise=2, lighting=1.0)
        cv2.imwrite(str(tmp_path / f"{i}.png"), img)
        samples.append(Sample(tmp_path / f"{i}.png", plate.replace(" ", "")))
    f = vision_frames.run(samples, "id", n_frames=3, min_conf=0.9)
    assert f["n"] == 2 and f["vote"]["exact"] == 2 and f["vote"]["wrong"] == 0
    assert 1 <= f["mean_frames_read"] <= 3
