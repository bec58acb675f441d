"""The shared real sets are split by vehicle (``vision.datasets``): one plate never on two sides, in any set."""

import pytest

from vision.datasets import default_root, id_crops, id_scenes, split_of, us_scenes, vehicle_key, vehicle_split

ROOT = default_root()
needs_datasets = pytest.mark.skipif(not (ROOT / "plates" / "id-scenes.tsv").exists(),
                                    reason="shared datasets not found at ../shared/datasets")


@needs_datasets
@pytest.mark.parametrize("loader", [id_crops, id_scenes, us_scenes])
def test_every_set_is_split_by_vehicle_into_three_parts(loader):
    parts = {split: loader(ROOT, split) for split in ("train", "cal", "test")}
    assert all(parts.values())
    assert sum(len(p) for p in parts.values()) == len(loader(ROOT))
    plates = {split: {vehicle_key(s.plate) for s in p} for split, p in parts.items()}
    assert not plates["train"] & plates["test"] and not plates["cal"] & plates["test"]
    assert not plates["train"] & plates["cal"]
    assert {s.path for s in loader(ROOT, "dev")} == {s.path for s in parts["train"] + parts["cal"]}


@needs_datasets
def test_a_plate_is_on_one_side_in_every_set_and_test_never_holds_what_the_old_networks_saw():
    crops = {vehicle_key(s.plate): vehicle_split(s.plate, ROOT) for s in id_crops(ROOT)}
    scenes = {vehicle_key(s.plate): vehicle_split(s.plate, ROOT) for s in id_scenes(ROOT)}
    assert all(crops[k] == scenes[k] for k in crops.keys() & scenes.keys())
    # the crops of the same cars in id-crops-train and id-crops-dev stay together
    dev_folder = [s for s in id_crops(ROOT) if s.path.parent.name == "id-crops-dev"]
    train_folder = {vehicle_key(s.plate): s for s in id_crops(ROOT) if s.path.parent.name == "id-crops-train"}
    shared = [s for s in dev_folder if vehicle_key(s.plate) in train_folder]
    assert shared and all(vehicle_split(s.plate, ROOT) == vehicle_split(train_folder[vehicle_key(s.plate)].plate,
                                                                         ROOT) for s in shared)
    # the networks shipped before the split learned from the old dev side of id-crops-dev and the US scenes
    old_dev = [s for s in dev_folder + us_scenes(ROOT) if split_of(s.path.name) == "dev"]
    assert old_dev and all(vehicle_split(s.plate, ROOT) != "test" for s in old_dev)


def test_vehicle_key_reads_o_as_zero_and_ignores_spaces():
    assert vehicle_key("ab 1o67 gf") == vehicle_key("AB1067GF".replace("0", "O")) == "AB1067GF".replace("I", "1")
