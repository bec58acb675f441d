"""The segmenting reader's character features: the batched computation the reader uses gives the
numbers the classifier was trained on (one patch at a time, ``features``)."""

from __future__ import annotations

import numpy as np

from vision.classifier import PATCH_H, PATCH_W, features, features_batch, normalise_patch


def test_batched_features_equal_the_trained_per_patch_features():
    rng = np.random.default_rng(0)
    patches = [normalise_patch(rng.integers(0, 256, (int(rng.integers(5, 60)), int(rng.integers(3, 40))))
                               .astype(np.uint8), bool(rng.random() < 0.5)) for _ in range(60)]
    patches += [np.full((PATCH_H, PATCH_W), 255, np.uint8), np.zeros((PATCH_H, PATCH_W), np.uint8)]
    one_by_one = np.stack([features(p) for p in patches])
    together = features_batch(patches)
    assert together.shape == one_by_one.shape and together.dtype == np.float32
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    assert features_batch([]).shape == (0, one_by_one.shape[1])
