"""Plate detector benchmark: recall and time on the US test split and on rendered Indonesian lane frames.

    python -m bench.vision_detect [--datasets ../shared/datasets] [--split test] [--rendered 100] [--json]

For each image: recall@1 / recall@3 = the ground-truth plate box is matched (IoU >= 0.5) by the best /
one of the best three predicted boxes; cover@1 / cover@3 = the ground-truth box is at least 80 % covered
by the predicted box (and the predicted box is not more than 4x the GT's area, so a whole-frame box does
not count). Time is the detector alone, single thread (cv2.setNumThreads(1), OMP/OPENBLAS threads 1).
The US figures are on the ``test`` split only (the detector is trained and tuned on ``dev``).
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from vision.datasets import default_root, us_scenes  # noqa: E402
from vision.detector import PlateDetector, box_iou  # noqa: E402


def covers(pred, gt) -> bool:
    px, py, pw, ph = pred
    gx, gy, gw, gh = gt
    ix = max(0, min(px + pw, gx + gw) - max(px, gx))
    iy = max(0, min(py + ph, gy + gh) - max(py, gy))
    return gw * gh > 0 and ix * iy >= 0.8 * gw * gh and pw * ph <= 4 * gw * gh


def evaluate(det: PlateDetector, items, name: str, verbose: bool = False) -> dict:
    n = 0
    r1 = r3 = c1 = c3 = 0
    times = []
    misses = []
    for label, img, gt in items:
        if img is None:
            continue
        n += 1
        t0 = time.perf_counter()
        boxes = det.detect(img, max_plates=3)
        times.append((time.perf_counter() - t0) * 1000)
        bb = [(b.x, b.y, b.w, b.h) for b in boxes]
        ious = [box_iou(b, gt) for b in bb]
        cov = [covers(b, gt) for b in bb]
        r1 += bool(ious[:1] and ious[0] >= 0.5)
        r3 += any(v >= 0.5 for v in ious[:3])
        c1 += bool(cov[:1] and cov[0])
        c3 += any(cov[:3])
        if not (ious[:1] and ious[0] >= 0.5):
            misses.append({"image": label, "gt": list(gt), "pred": [list(b) for b in bb],
                           "iou": [round(v, 2) for v in ious]})
    t = np.array(times) if times else np.zeros(1)
    res = {"set": name, "n": n, "recall@1": round(r1 / max(1, n), 4), "recall@3": round(r3 / max(1, n), 4),
           "cover@1": round(c1 / max(1, n), 4), "cover@3": round(c3 / max(1, n), 4),
           "median_ms": round(float(np.median(t)), 2), "p95_ms": round(float(np.percentile(t, 95)), 2)}
    if verbose:
        for m in misses:
            print("  miss", json.dumps(m))
    return res


def us_items(root: Path, split: str):
    for s in us_scenes(root, split):
        yield s.path.name, cv2.imread(str(s.path)), s.bbox


def rendered_items(n: int, seed0: int = 10_000):
    from simulators.plate_render import random_id_plate, render_scene

    rng = np.random.default_rng(seed0)
    for i in range(n):
        text = random_id_plate(rng)
        img, bbox = render_scene(text, seed=seed0 + i)
        yield f"render-{seed0 + i}", img, bbox


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=Path, default=None)
    ap.add_argument("--split", default="test", choices=["dev", "test"])
    ap.add_argument("--rendered", type=int, default=100)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--no-refine", action="store_true", help="first stage only")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true", help="list the misses")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    det = PlateDetector(args.model, refine=not args.no_refine)
    print(f"detector: learned={det.learned} refiner={det.refining}")
    det.detect(np.zeros((720, 1280, 3), np.uint8))  # warm-up (model load)
    results = []
    root = args.datasets or default_root()
    if (root / "plates" / "openalpr-us.tsv").exists():
        results.append(evaluate(det, us_items(root, args.split), f"us-{args.split}", args.verbose))
    else:
        print(f"no US scenes under {root}", file=sys.stderr)
    if args.rendered > 0:
        results.append(evaluate(det, rendered_items(args.rendered), "rendered-id", args.verbose))
    for r in results:
        print(f"{r['set']:>12}: n={r['n']} recall@1={r['recall@1']:.3f} recall@3={r['recall@3']:.3f} "
              f"cover@1={r['cover@1']:.3f} cover@3={r['cover@3']:.3f} "
              f"median={r['median_ms']:.2f} ms p95={r['p95_ms']:.2f} ms")
    if args.json:
        print(json.dumps({"detector": results, "refiner": det.refining}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
