"""Lane binding benchmark: how often a car's plate is bound without an officer, and how often wrongly.

The lane reads several frames of a car that has stopped at the entry loop, votes across them
(``vision.multiframe.FrameVoter``, as ``devices.camera.driver.ReadingCamera`` does) and binds the voted
plate to the visit when its confidence reaches ``plate_min_confidence``; below it an officer confirms or
types the plate. A wrong plate bound is the failure that matters (a driver's display shows another plate,
the exit match fails); an officer confirmation costs a few seconds.

Each real photograph stands for a stopped car: its frames are the same photograph with a little sensor
noise, a pixel or so of shake and a few per cent of exposure change (so the frames are far from
independent, as on a real lane). Rendered lane cars are read from the camera simulator's own frames (three
renders of the car, cycled). For each threshold it prints the share bound, the wrong ones among them and
the share left to the officer::

    lajur bench binding --split cal            # development: the calibration fold
    lajur bench binding --split test --json    # the figures (test split; python bench/vision_binding.py too)
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from vision.grammar import plates_match  # noqa: E402
from vision.multiframe import FrameVoter  # noqa: E402
from vision.reader import PlateReader, PlateReading  # noqa: E402

THRESHOLDS = (0.6, 0.9)
FRAMES = 5  # ReadingCamera's max_frames


def still_frames(img: np.ndarray, k: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``k`` frames of a still scene: the image shifted by up to 1.5 px, exposure x0.95-1.05, noise sigma 2."""
    h, w = img.shape[:2]
    out = []
    for _ in range(k):
        m = np.float32([[1, 0, rng.uniform(-1.5, 1.5)], [0, 1, rng.uniform(-1.5, 1.5)]])
        f = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        f = f * rng.uniform(0.95, 1.05) + rng.normal(0.0, 2.0, f.shape)
        out.append(np.clip(f, 0, 255).astype(np.uint8))
    return out


def bind(readings: list[PlateReading], fmt: str, threshold: float) -> tuple[str | None, float]:
    """The plate the lane binds from these frames (read in order until the vote is done), or None."""
    voter = FrameVoter(min_confidence=threshold, max_frames=len(readings), format=fmt)
    for r in readings:
        res = voter.add(r)
        if res.done:
            break
    return (res.plate, res.confidence) if res.plate and res.confidence >= threshold else (None, res.confidence)


def outcomes(cars: list[tuple[list[PlateReading], str, str]]) -> dict[str, dict]:
    """Per threshold: cars bound, bound wrongly, left to the officer."""
    out = {}
    for t in THRESHOLDS:
        bound = wrong = 0
        for readings, truth, fmt in cars:
            plate, _ = bind(readings, fmt, t)
            if plate is not None:
                bound += 1
                wrong += not plates_match(plate, truth, fmt)
        n = len(cars)
        out[str(t)] = {"n": n, "bound": bound, "wrong": wrong, "officer": n - bound,
                       "bound_share": bound / n if n else None,
                       "right_when_bound": (bound - wrong) / bound if bound else None}
    return out


def real_cars(root: Path, split: str, rng: np.random.Generator, limit: int | None = None) -> dict[str, list]:
    from bench.vision import real_samples
    from vision.datasets import id_crops, us_scenes

    cars: dict[str, list] = {}
    if not (root / "plates").is_dir():
        return cars
    g, i = PlateReader("generic"), PlateReader("id")
    cars["us"] = [([g.read(f) for f in still_frames(cv2.imread(str(s.path)), FRAMES, rng)], s.plate, "generic")
                  for s in real_samples(us_scenes, root, split)[:limit]]
    cars["id-crops"] = [([i.read_crop(f) for f in still_frames(cv2.imread(str(s.path)), FRAMES, rng)],
                         s.plate, "id") for s in real_samples(id_crops, root, split)[:limit]]
    return cars


def rendered_cars(n: int, seed: int) -> list:
    from simulators.plate_render import random_id_plate, render_scene

    reader = PlateReader("id")
    rng = np.random.default_rng(seed)
    cars = []
    for k in range(n):
        text = random_id_plate(rng)
        # the camera simulator's frames of one car: three renders, cycled (simulators/camera.py)
        views = [render_scene(text, seed=(seed * 1000 + k) * 10 + j)[0] for j in range(3)]
        readings = []
        for j in range(FRAMES):  # read lazily: the vote usually stops after the first frame
            readings.append(reader.read(views[j % 3]))
            if readings[-1].confidence >= max(THRESHOLDS):
                break
        cars.append((readings, text, "id"))
    return cars


def main(argv: list[str] | None = None) -> int:
    from vision.datasets import default_root

    ap = argparse.ArgumentParser(prog="lajur bench binding", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=("test", "dev", "cal"), default="test")
    ap.add_argument("--n", type=int, default=100, help="rendered cars")
    ap.add_argument("--limit", type=int, default=None, help="at most this many cars of each real set (default: all)")
    ap.add_argument("--seed", type=int, default=None, help="rendered seed (default: 7, or 2026 for test)")
    ap.add_argument("--datasets", type=Path, default=None)
    ap.add_argument("--json", action="store_true", help="last line: one JSON object")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    rng = np.random.default_rng(1)
    sets = real_cars(args.datasets or default_root(), args.split, rng, args.limit)
    seed = args.seed if args.seed is not None else (2026 if args.split == "test" else 7)
    if args.n > 0:
        sets["rendered"] = rendered_cars(args.n, seed)
    figures = {name: outcomes(cars) for name, cars in sets.items()}
    for name, per in figures.items():
        for t, f in per.items():
            right = "n/a" if f["right_when_bound"] is None else f"{f['right_when_bound']:.1%}"
            print(f"{name:9s} threshold {t}: bound {f['bound']}/{f['n']} ({f['bound_share']:.1%}), "
                  f"wrong {f['wrong']} (right when bound {right}), officer {f['officer']}")
    if args.json:
        print(json.dumps({"split": args.split, "sets": figures}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
