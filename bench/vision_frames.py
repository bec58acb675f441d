"""Multi-frame voting on real scenes (issue 22, item 6): ``lajur bench frames [--json]``.

The entry camera reads several frames of a car. Each real test scene stands for one car: frame 0 is the
photograph, frames 1..N-1 the same scene shifted (up to 6 % of its size), rescaled (0.85-1.15), re-lit (gain
0.7-1.3, gamma 0.8-1.25) with sensor noise, seeded per scene. They go through ``vision.multiframe.FrameVoter``
as the lane's camera driver does (stopping as soon as the vote is confident). For each set it prints, for one
frame alone and for the vote: exact plates (whether bound or not: the officer's suggestion), bound (confidence
at or above ``--min-confidence``, the lane's 0.9) and wrongly bound, and the frames read::

    lajur bench frames --split test --json      # figures (python bench/vision_frames.py too)
    lajur bench frames --split cal              # development
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
from vision.reader import PlateReader  # noqa: E402


def frames_of(img: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
    """The scene and ``n - 1`` shifted, rescaled, re-lit versions of it (same size, border repeated)."""
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    out = [img]
    for _ in range(n - 1):
        s = rng.uniform(0.85, 1.15)
        dx, dy = rng.uniform(-0.06, 0.06) * w, rng.uniform(-0.06, 0.06) * h
        M = np.float32([[s, 0, (1 - s) * w / 2 + dx], [0, s, (1 - s) * h / 2 + dy]])
        f = cv2.warpAffine(img, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        gain, gamma = rng.uniform(0.7, 1.3), rng.uniform(0.8, 1.25)
        f = 255.0 * np.clip(f.astype(np.float32) * gain / 255.0, 0, 1) ** gamma
        f += rng.normal(0, 3.0, f.shape)
        out.append(np.clip(f, 0, 255).astype(np.uint8))
    return out


def run(samples: list, fmt: str, n_frames: int, min_conf: float, prep=None) -> dict:
    reader = PlateReader(fmt)
    single = {"exact": 0, "bound": 0, "wrong": 0}
    vote = {"exact": 0, "bound": 0, "wrong": 0}
    frames_read = 0
    for i, s in enumerate(samples):
        img = cv2.imread(str(s.path))
        if prep is not None:
            img = prep(img)
        voter = FrameVoter(min_confidence=min_conf, max_frames=n_frames, format=fmt)
        res = None
        for k, frame in enumerate(frames_of(img, n_frames, seed=1000 + i)):
            r = reader.read(frame)
            if k == 0:
                ok = plates_match(r.plate, s.plate, fmt)
                single["exact"] += ok
                if r.plate and r.confidence >= min_conf:
                    single["bound"] += 1
                    single["wrong"] += not ok
            res = voter.add(r)
            if res.done:
                break
        frames_read += res.frames
        ok = plates_match(res.plate, s.plate, fmt)
        vote["exact"] += ok
        if res.plate and res.confidence >= min_conf:
            vote["bound"] += 1
            vote["wrong"] += not ok
    n = max(1, len(samples))
    return {"n": len(samples), "frames": n_frames, "mean_frames_read": round(frames_read / n, 2),
            "single": {**single, "exact_share": round(single["exact"] / n, 4)},
            "vote": {**vote, "exact_share": round(vote["exact"] / n, 4)}}


def main(argv: list[str] | None = None) -> int:
    from bench.vision import unstretch
    from vision.datasets import default_root, id_scenes, us_scenes

    ap = argparse.ArgumentParser(prog="lajur bench frames", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=("test", "cal", "dev", "train"), default="test")
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--min-confidence", type=float, default=0.9)
    ap.add_argument("--sets", default="id-scenes,id-scenes-unstretched,us")
    ap.add_argument("--datasets", type=Path, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    root = args.datasets or default_root()
    if not (root / "plates").is_dir():
        print(f"skipped: {root / 'plates'} not found")
        return 0
    sets = {"id-scenes": (id_scenes, "id", None), "id-scenes-unstretched": (id_scenes, "id", unstretch),
            "us": (us_scenes, "generic", None)}
    out = {}
    for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        loader, fmt, prep = sets[name]
        f = run(loader(root, args.split), fmt, args.frames, args.min_confidence, prep)
        out[name] = f
        print(f"{name}: n={f['n']} one frame: exact {f['single']['exact_share']:.1%}, bound {f['single']['bound']} "
              f"({f['single']['wrong']} wrong); vote of up to {args.frames}: exact {f['vote']['exact_share']:.1%}, "
              f"bound {f['vote']['bound']} ({f['vote']['wrong']} wrong), {f['mean_frames_read']} frames read")
    if args.json:
        print(json.dumps({"split": args.split, "sets": out}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
