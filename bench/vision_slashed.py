"""Does the reader know the slashed O of newer Indonesian plates? ``python bench/vision_slashed.py``

Newer real Indonesian plates draw the letter O of the suffix as a slashed zero (``UZØ``, ``JLØ``), while
the digit 0 of the number stays plain. The camera simulator's renderer does not draw it, and there are too
few real crops with it to measure on, so this diagnostic draws synthetic Indonesian plates with a letter O
from the recogniser's training generator (``vision.train_recognizer.Synth``, seeds 700000+, none of which
training uses; a real region code), each twice, identical except that the O is plain the first time and slashed the second,
cuts them with a detector-like margin and reads them with ``PlateReader('id').read_crop``. It prints the
exact-plate share of each. ``--models DIR`` reads with a candidate's files, as in ``bench/vision.py``.

Needs what training needs for the glyphs (Pillow; the plate-like fonts when installed), not PyTorch.
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

SEED0 = 700000


def pairs(n: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``n`` (label, plain crop, slashed crop) with a letter O after the number."""
    import vision.train_recognizer as tr
    from vision.grammar import ID_REGION_CODES

    synth = tr.Synth(np.random.default_rng(SEED0))
    codes = sorted(ID_REGION_CODES)
    draw_text = synth.id_text

    def id_text() -> tuple[str, list[str]]:  # a real region code, so that the grammar leaves it alone
        _, groups = draw_text()
        groups = [codes[int(synth.rng.integers(len(codes)))]] + groups[1:]
        return "".join(groups), groups

    synth.id_text = id_text
    out = []
    seed = SEED0
    while len(out) < n:
        seed += 1
        crops = []
        for slash in (0.0, 1.0):
            synth.slashed_o_share = slash
            rng = np.random.default_rng(seed)
            synth.rng = rng
            canvas, label, box = synth.plate("id")
            q = tr.jittered_quad(rng, box, (0.06, 0.12))
            crops.append(np.clip(tr.photometric(tr.warp(canvas, q, rng), rng), 0, 255).astype(np.uint8))
        digits_end = max(i for i, c in enumerate(label) if c.isdigit())
        if "O" in label[digits_end + 1:]:
            out.append((label, crops[0], crops[1]))
    return out


def count_right(reader, data: list[tuple[str, np.ndarray, np.ndarray]]) -> dict[str, int]:
    """Exact-plate readings of ``pairs`` by ``reader`` (a ``PlateReader('id')``), plain and slashed."""
    from vision.grammar import canonical

    right = {"plain": 0, "slashed": 0}
    for label, plain, slashed in data:
        for key, img in (("plain", plain), ("slashed", slashed)):
            got = reader.read_crop(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)).plate
            right[key] += bool(got) and canonical(got, "id") == canonical(label, "id")
    return right


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--models", type=Path, default=None, help="read with the learned files in DIR")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    if args.models is not None:
        from bench.vision import use_models
        from vision.models import ModelDirectoryError

        try:
            use_models(args.models)
        except ModelDirectoryError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    from vision.reader import PlateReader

    data = pairs(args.n)
    right = count_right(PlateReader("id"), data)
    figures = {k: round(100.0 * v / len(data), 1) for k, v in right.items()}
    print(f"synthetic Indonesian plates with a letter O, n={len(data)}: exact plain O {figures['plain']}%, "
          f"slashed O {figures['slashed']}%")
    if args.json:
        print(json.dumps({"n": len(data), **figures}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
