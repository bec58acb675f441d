"""Vision benchmark: ``lajur bench vision [--json]`` (also ``python bench/vision.py``).

Each set reports (``score``): exact plates, exact counting O and 0 as one glyph, character error rate,
the share of confident readings (at ``--min-confidence``, the lane's 0.9) and how many of them are right,
median and p95 ms per image, and ``frame_ms``: the median ms of a whole read of a 1280x720 lane frame made
of the set's pictures (``as_frame``), on one thread. The real sets are read on the **test** part of the
split by vehicle (``vision.datasets``) unless ``--split`` says otherwise. Default sets:

* ``rendered``: Indonesian plates from the camera simulator (1280x720 frames, seeded), ``--format id``;
* ``id-crops``: the real Indonesian plate crops, ``--format id --crop``;
* ``id-scenes``: the real Indonesian street scenes as given (416x416, stretched to a square by their
  source), ``--format id`` (full frames: finding and reading the plate);
* ``id-scenes-unstretched``: the same scenes with the stretch undone (width / ``UNSTRETCH``, 1.25, the
  middle of the 1.2-1.3 the datasets' README gives; not tuned), as a lane camera would see them;
* ``us``: the real US scenes, ``--format generic`` (full frames);

and on request:

* ``us-crops``: the same US photographs cut at their ground-truth plate boxes (plus a small margin),
  ``--format generic --crop``: recognition measured apart from localisation;
* ``us-boxes`` (not in the default sets): the US photographs read through detector-like boxes (the
  ground-truth box shifted and scaled at random, three a photograph): robustness to imprecise boxes;
* ``samples`` (with ``--samples DIR``): the plate crops a lane kept with the plates its officers gave
  (``plate_samples_dir``, ``lane/plate_samples.py``), split like the shared crops, ``--format id --crop``:
  the reader measured on the site's own plates.

The real sets are read in place from ``../shared/datasets`` (or ``--datasets``) and skipped when absent.
With ``--json`` the last line is one JSON object: ``exact``, ``per_char``, ``median_ms`` of the rendered
set (the lane's case) and ``sets`` with every set's figures.

Comparing a retrained model with the shipped one, on dev data only: ``--models DIR`` reads with the files
in DIR (``recognizer.npz`` and its ``.onnx``, read for every format unless DIR also has
``recognizer_id.npz`` for ``id``; ``detector.onnx`` and ``detector_refine.onnx``, ``calibration.json``; each
one absent from DIR is taken from ``vision/data``), ``--calibrate --models DIR``
fits DIR's own ``calibration.json``, and ``--split cal --seed 7`` reads the ``cal`` part of the split (which
no network trains on) and development seed 7 of the rendered frames::

    python bench/vision.py --calibrate --models /tmp/run12
    python bench/vision.py --models /tmp/run12 --split cal --seed 7 --n 300
"""

from __future__ import annotations

import os

# one core: no BLAS worker threads (set before numpy is imported)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from lane.errors import ConfigError  # noqa: E402
from lane.settings import load_settings  # noqa: E402
from vision.grammar import canonical, normalise  # noqa: E402
from vision.models import ModelDirectoryError  # noqa: E402
from vision.onnx_net import ENGINES, EngineSettingError, default_engine, use_engine  # noqa: E402
from vision.reader import PlateReader  # noqa: E402


def _lev(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _o0(p: str) -> str:
    return p.replace("O", "0")


def score(results: list[tuple], fmt: str, min_conf: float) -> dict:
    """results: (predicted, truth, confidence, wall ms, cpu ms). ``exact``: the same plate (for ``id`` O/0 etc.
    put right by position, ``vision.grammar.canonical``); ``exact_o0``: counting O and 0 as one glyph
    everywhere (as the Indonesian plate font draws them; the ``generic`` reader reports 0); ``cer``: character
    error rate (edit distance / characters of the truth); ``confident_*``: readings at or above
    ``min_conf`` (the lane's ``plate_min_confidence``), how many and how many right."""
    n = len(results)
    exact = exact_o0 = errors = chars = 0
    conf_n = conf_ok = 0
    for pred, truth, conf, *_ in results:
        t = canonical(truth, fmt)
        p = canonical(pred, fmt) if pred else ""
        ok = p == t
        exact += ok
        exact_o0 += _o0(p) == _o0(t)
        chars += len(t)
        errors += min(len(t), _lev(p, t))
        if pred and conf >= min_conf:
            conf_n += 1
            conf_ok += ok
    ms = [r[3] for r in results]
    cpu = [r[4] for r in results if len(r) > 4]
    return {
        "n": n,
        "exact": round(exact / n, 4) if n else 0.0,
        "exact_o0": round(exact_o0 / n, 4) if n else 0.0,
        "cer": round(errors / chars, 4) if chars else 0.0,
        "per_char": round(1 - errors / chars, 4) if chars else 0.0,
        "median_ms": round(statistics.median(ms), 2) if ms else 0.0,
        "p95_ms": round(float(np.percentile(ms, 95)), 2) if ms else 0.0,
        "median_cpu_ms": round(statistics.median(cpu), 2) if cpu else None,
        "confident_share": round(conf_n / n, 4) if n else 0.0,
        "confident_n": conf_n,
        "confident_right": conf_ok,
        "confident_precision": round(conf_ok / conf_n, 4) if conf_n else None,
        "min_confidence": min_conf,
    }


FRAME_W, FRAME_H = 1280, 720
FRAME_SAMPLES = 30  # images of a set timed as lane frames


def as_frame(img: np.ndarray, crop: bool = False) -> np.ndarray:
    """The image as a 1280x720 lane camera frame: a scene fitted inside it (aspect kept, grey borders); a
    plate crop put at 300 px wide in the middle of a grey frame (about a lane camera's plate)."""
    frame = np.full((FRAME_H, FRAME_W, 3), 110, np.uint8)
    h, w = img.shape[:2]
    f = 300.0 / w if crop else min(FRAME_W / w, FRAME_H / h)
    small = cv2.resize(img, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA
                       if f < 1 else cv2.INTER_LINEAR)
    sh, sw = small.shape[:2]
    y0, x0 = (FRAME_H - sh) // 2, (FRAME_W - sw) // 2
    frame[y0:y0 + sh, x0:x0 + sw] = small
    return frame


def frame_ms(reader: PlateReader, images: list[np.ndarray], crop: bool = False) -> float | None:
    """Median wall ms of ``reader.read`` (detector and all) on the images as 1280x720 frames (``as_frame``;
    the first ``FRAME_SAMPLES``), on one thread: what a lane frame of this kind of picture costs."""
    ms = []
    for img in images[:FRAME_SAMPLES]:
        frame = img if img.shape[:2] == (FRAME_H, FRAME_W) else as_frame(img, crop)
        t0 = time.perf_counter()
        reader.read(frame)
        ms.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(ms), 2) if ms else None


STAGES = (
    ("detector", "vision.detector", "PlateDetector", "detect"),
    ("  first network", "vision.detector", "PlateDetector", "_forward"),
    ("  refiner", "vision.detector", "PlateDetector", "_refine"),
    ("recogniser", "vision.recognizer", "Recognizer", "recognise"),
    ("grammar", "vision.reader", "PlateReader", "_candidate"),
    ("second opinion", "vision.reader", "PlateReader", "_second_opinion"),
)


@contextlib.contextmanager
def stage_timers():
    """Wall time spent in each stage of ``PlateReader.read`` (``STAGES``) while the block runs, in a dict
    filled as it goes: the methods are wrapped with timers and put back afterwards (``--stages``)."""
    import importlib

    spent: dict[str, float] = {label: 0.0 for label, *_ in STAGES}
    saved = []
    for label, module, cls_name, meth in STAGES:
        cls = getattr(importlib.import_module(module), cls_name)
        original = cls.__dict__[meth]

        def timed(*a, _f=original, _label=label, **k):
            t0 = time.perf_counter()
            try:
                return _f(*a, **k)
            finally:
                spent[_label] += time.perf_counter() - t0

        saved.append((cls, meth, original))
        setattr(cls, meth, timed)
    try:
        yield spent
    finally:
        for cls, meth, original in saved:
            setattr(cls, meth, original)


def run_rendered(n: int, seed: int) -> list[tuple[str | None, str, float, float]]:
    from simulators.plate_render import random_id_plate, render_scene

    reader = PlateReader("id")
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        text = random_id_plate(rng)
        img, _ = render_scene(text, seed=seed * 100000 + i)
        c0 = time.process_time()
        r = reader.read(img)
        out.append((r.plate, normalise(text), r.confidence, r.ms, (time.process_time() - c0) * 1000))
    return out


def real_samples(loader, root: Path, split: str | None) -> list:
    """``loader``'s samples (``vision.datasets.id_crops``, ``id_scenes``, ``us_scenes`` or ``labelled_crops``)
    of a split: ``test``, ``cal`` (kept out of every training: calibration and model choice), ``train``,
    ``dev`` (train + cal) or ``None`` for all (``vision.datasets``: split by vehicle)."""
    return loader(root, split)


def use_models(directory: Path, require_calibration: bool = False) -> list[str]:
    """Read with the learned files in ``directory`` instead of ``vision/data`` (for comparing a retrained
    candidate before it is copied in), by the rules of ``vision.models.use_directory``; unless
    ``require_calibration``, a directory without a calibration of its own is read with the shipped one (a
    comparison may do that; a lane may not); ``calibrate`` then writes to ``directory``. Returns the names
    taken from ``directory``."""
    from vision.models import use_directory

    return use_directory(directory, require_calibration=require_calibration)


def run_id_crops(root: Path, split: str) -> list[tuple[str | None, str, float, float]]:
    from vision.datasets import id_crops

    return read_id_crops(real_samples(id_crops, root, split))


UNSTRETCH = 1.25  # the id-scenes' source stretched them to a square: plates 1.2-1.3 x too wide (README)


def unstretch(img: np.ndarray) -> np.ndarray:
    """An ``id-scenes`` picture with the source's stretch undone (narrower by ``UNSTRETCH``)."""
    h, w = img.shape[:2]
    return cv2.resize(img, (int(round(w / UNSTRETCH)), h), interpolation=cv2.INTER_AREA)


def run_id_scenes(root: Path, split: str, undo_stretch: bool = False) -> list[tuple]:
    """The Indonesian street scenes read whole (``--format id``): as given, or with the stretch undone."""
    from vision.datasets import id_scenes

    reader = PlateReader("id")
    out = []
    for s in real_samples(id_scenes, root, split):
        img = cv2.imread(str(s.path))
        if undo_stretch:
            img = unstretch(img)
        c0 = time.process_time()
        r = reader.read(img)
        out.append((r.plate, s.plate, r.confidence, r.ms, (time.process_time() - c0) * 1000))
    return out


def frame_images(name: str, root: Path, split: str | None) -> tuple[list[np.ndarray], bool, str]:
    """The first ``FRAME_SAMPLES`` pictures of a real set for ``frame_ms``: (images, crops?, format)."""
    from vision.datasets import id_crops, id_scenes, us_scenes

    loader, crop, fmt = {"id-crops": (id_crops, True, "id"), "id-scenes": (id_scenes, False, "id"),
                         "id-scenes-unstretched": (id_scenes, False, "id"),
                         "us": (us_scenes, False, "generic"), "us-crops": (us_scenes, False, "generic"),
                         "us-boxes": (us_scenes, False, "generic")}[name]
    imgs = [cv2.imread(str(s.path)) for s in real_samples(loader, root, split)[:FRAME_SAMPLES]]
    if name == "id-scenes-unstretched":
        imgs = [unstretch(i) for i in imgs]
    return imgs, crop, fmt


def run_lane_samples(directory: Path, split: str) -> list[tuple[str | None, str, float, float]]:
    """The crops a lane kept with the officers' plates (``--samples``; ``lane/plate_samples.py``)."""
    from vision.datasets import labelled_crops

    return read_id_crops(real_samples(labelled_crops, directory, split))


def read_id_crops(samples: list) -> list[tuple[str | None, str, float, float]]:
    reader = PlateReader("id")
    out = []
    for s in samples:
        img = cv2.imread(str(s.path))
        t0, c0 = time.perf_counter(), time.process_time()
        r = reader.read_crop(img)
        out.append((r.plate, s.plate, r.confidence, (time.perf_counter() - t0) * 1000,
                    (time.process_time() - c0) * 1000))
    return out


def run_us(root: Path, split: str) -> list[tuple[str | None, str, float, float]]:
    from vision.datasets import us_scenes

    reader = PlateReader("generic")
    out = []
    for s in real_samples(us_scenes, root, split):
        img = cv2.imread(str(s.path))
        c0 = time.process_time()
        r = reader.read(img)
        out.append((r.plate, s.plate, r.confidence, r.ms, (time.process_time() - c0) * 1000))
    return out


def us_crop(img: np.ndarray, bbox: tuple[int, int, int, int]) -> np.ndarray:
    """The plate of a US scene cut at its ground-truth box with a small margin (5 % of the width, 10 % of
    the height on each side), as a detector would pad it."""
    x, y, w, h = bbox
    mx, my = int(round(0.05 * w)), int(round(0.1 * h))
    H, W = img.shape[:2]
    return img[max(0, y - my): min(H, y + h + my), max(0, x - mx): min(W, x + w + mx)]


def run_us_crops(root: Path, split: str) -> list[tuple[str | None, str, float, float]]:
    from vision.datasets import us_scenes

    reader = PlateReader("generic")
    out = []
    for s in real_samples(us_scenes, root, split):
        img = us_crop(cv2.imread(str(s.path)), s.bbox)
        t0, c0 = time.perf_counter(), time.process_time()
        r = reader.read_crop(img)
        out.append((r.plate, s.plate, r.confidence, (time.perf_counter() - t0) * 1000,
                    (time.process_time() - c0) * 1000))
    return out


class _GivenBoxes:
    """Stands in for the detector: returns the box it is given (``run_us_jittered``)."""

    box: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)

    def detect(self, image, max_plates: int = 3):
        from vision.detector import _finish

        H, W = image.shape[:2]
        return _finish([self.box], W, H, 1)


def jittered_readings(reader: PlateReader, samples: list, per_image: int = 3, seed: int = 3):
    """Each US photograph of ``samples`` read ``per_image`` times through a detector-like box: the
    ground-truth box shifted by up to 10 % of its width and 12 % of its height and scaled by 0.82-1.1 x
    0.8-1.15 (fixed seed). Yields ``(sample, reading, cpu_ms)``; the detector is stood in for meanwhile."""
    import vision.detector as det

    rng = np.random.default_rng(seed)
    given = _GivenBoxes()
    real_get = det.get_detector
    det.get_detector = lambda: given
    try:
        for s in samples:
            img = cv2.imread(str(s.path))
            x, y, w, h = s.bbox
            for _ in range(per_image):
                dx, dy = rng.uniform(-0.1, 0.1) * w, rng.uniform(-0.12, 0.12) * h
                sx, sy = rng.uniform(0.82, 1.1), rng.uniform(0.8, 1.15)
                given.box = (x + w / 2 + dx, y + h / 2 + dy, w * sx, h * sy, 0.9)
                c0 = time.process_time()
                r = reader.read(img)
                yield s, r, (time.process_time() - c0) * 1000
    finally:
        det.get_detector = real_get


def run_us_jittered(root: Path, split: str, per_image: int = 3, seed: int = 3):
    """The US photographs read through detector-like boxes (``jittered_readings``): how the reader copes
    with a box that cuts a character off or takes in too much."""
    from vision.datasets import us_scenes

    return [(r.plate, s.plate, r.confidence, r.ms, cpu)
            for s, r, cpu in jittered_readings(PlateReader("generic"), real_samples(us_scenes, root, split),
                                               per_image, seed)]


CALIBRATION_JITTER_SEED = 5  # the us-boxes benchmark draws with seed 3


def calibrate(root: Path, samples: Path | None = None) -> int:
    """Fit vision/data/calibration.json (or the ``--models`` directory's) on the ``cal`` part of the real sets
    only (see vision.calibrate; no rendered plates: they are easier than real ones and made the curve trust
    too much); with ``samples`` (a lane's kept crops, ``--samples``) the ``id`` curve is also fitted on their
    calibration fold, which ``train_recognizer --samples`` leaves out of training."""
    from vision.calibrate import isotonic
    from vision.datasets import id_crops, id_scenes, labelled_crops, us_scenes
    from vision.grammar import plates_match
    from vision.models import CALIBRATION, current_directory
    from vision.reader import CALIBRATION_PATH

    target = current_directory() / CALIBRATION if current_directory() is not None else CALIBRATION_PATH
    out = {}
    for fmt in ("id", "generic"):
        reader = PlateReader(fmt)
        reader._calib = None  # raw confidences
        xs, ys = [], []
        if fmt == "id":  # real plates only: the crops, and the scenes as given and with the stretch undone
            readings = []
            if (root / "plates").is_dir():
                readings += [(s, reader.read_crop(cv2.imread(str(s.path))))
                             for s in real_samples(id_crops, root, "cal")]
                for s in real_samples(id_scenes, root, "cal"):
                    img = cv2.imread(str(s.path))
                    readings += [(s, reader.read(img)), (s, reader.read(unstretch(img)))]
            if samples is not None:
                kept = real_samples(labelled_crops, samples, "cal")
                print(f"id: {len(kept)} of the site's crops (their calibration fold) in the fit")
                readings += [(s, reader.read_crop(cv2.imread(str(s.path)))) for s in kept]
            for s, r in readings:
                if r.plate and not r.disputed and r.doubt is None:  # held readings' confidence is the cap
                    xs.append(r.raw_confidence)
                    ys.append(plates_match(r.plate, s.plate))
        elif (root / "plates").is_dir():
            fold = real_samples(us_scenes, root, "cal")
            readings = []
            for s in fold:
                img = cv2.imread(str(s.path))
                readings += [(s, reader.read(img)), (s, reader.read_crop(us_crop(img, s.bbox)))]
            # and through detector-like boxes (other draws than the us-boxes benchmark's): three times the
            # readings, so that one more reading right or wrong no longer moves the curve's middle
            readings += [(s, r) for s, r, _ in jittered_readings(reader, fold, 3, CALIBRATION_JITTER_SEED)]
            for s, r in readings:
                if r.plate and not r.disputed and r.doubt is None:
                    xs.append(r.raw_confidence)
                    ys.append(plates_match(r.plate, s.plate, "generic"))
        x, y = np.array(xs), np.array(ys)
        if len(x) < 10:
            print(f"{fmt}: too few readings ({len(x)}), identity calibration")
            out[fmt] = {"points": [[0.0, 0.0], [1.0, 1.0]], "n": int(len(x))}
            continue
        pts = isotonic(x, y)
        out[fmt] = {"points": [list(p) for p in pts], "n": int(len(x)), "right": int(y.sum())}
        print(f"{fmt}: {len(x)} dev readings, {y.mean():.1%} right; curve {pts}")
    target.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {target}")
    return 0


DEFAULT_SETS = ("rendered", "id-crops", "id-scenes", "id-scenes-unstretched", "us")
REAL_SETS = ("id-crops", "id-scenes", "id-scenes-unstretched", "us", "us-crops", "us-boxes")


def main(argv: list[str] | None = None) -> int:
    from vision.datasets import default_root

    ap = argparse.ArgumentParser(prog="lajur bench vision", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="last line: one JSON object")
    ap.add_argument("--n", type=int, default=200, help="rendered frames (default 200)")
    ap.add_argument("--seed", type=int, default=2026, help="rendered set seed (7 was used for development)")
    ap.add_argument("--split", choices=("test", "dev", "cal", "train", "all"), default="test",
                    help="part of the split by vehicle to read (vision.datasets); cal: kept out of training, "
                         "for calibration and comparing models; dev: train + cal")
    ap.add_argument("--models", type=Path, default=None,
                    help="read with the learned files in this directory (absent ones from vision/data); "
                         "default: LAJUR_PLATE_MODELS_DIR, the lane's plate_models_dir")
    ap.add_argument("--datasets", type=Path, default=None, help="shared datasets directory")
    ap.add_argument("--sets", default=",".join(DEFAULT_SETS))
    ap.add_argument("--no-frames", action="store_true", help="skip timing the real sets as 1280x720 frames")
    ap.add_argument("--samples", type=Path, default=None,
                    help="also read the plate crops a lane kept (its plate_samples_dir) as set 'samples'; "
                         "with --calibrate, their calibration fold joins the id curve's fit")
    ap.add_argument("--min-confidence", type=float, default=0.9)
    ap.add_argument("--stages", action="store_true",
                    help="also the mean time a rendered frame spends in each stage of the reader")
    ap.add_argument("--engine", choices=ENGINES, default=None,
                    help="what runs the networks (default: onnxruntime where installed, else OpenCV's dnn)")
    ap.add_argument("--calibrate", action="store_true",
                    help="fit vision/data/calibration.json on the dev split (not a benchmark)")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"lajur bench vision: {exc}", file=sys.stderr)
        return 2
    use_engine(args.engine or settings.vision_engine)
    try:
        engine = default_engine()
    except EngineSettingError as exc:
        print(f"lajur bench vision: {exc}", file=sys.stderr)
        return 2
    print(f"networks run on {engine} (one thread)")
    root = args.datasets or default_root()
    lanes_directory = args.models is None and settings.plate_models_dir is not None
    if lanes_directory:  # the lane's plate_models_dir: measured by the lane's rules
        args.models = settings.plate_models_dir
    if args.models is not None:
        try:
            used = use_models(args.models, require_calibration=lanes_directory and not args.calibrate)
        except ModelDirectoryError as exc:
            print(f"--models: {exc}", file=sys.stderr)
            return 2
        print(f"models from {args.models}: {', '.join(used) or 'none (all from vision/data)'}")
        if "calibration.json" not in used and not args.calibrate and used:
            print("no calibration.json there: the shipped calibration is used (fit one with --calibrate)")
    if args.calibrate:
        return calibrate(root, samples=args.samples)
    split = None if args.split == "all" else args.split
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    if args.samples is not None and "samples" not in sets:
        sets.append("samples")
    figures: dict[str, dict] = {}
    stages: dict[str, float] | None = None
    for name in sets:
        if name == "rendered" and args.stages:
            with stage_timers() as spent:
                res, fmt = run_rendered(args.n, args.seed), "id"
            stages = {label.strip(): round(v * 1000 / max(1, args.n), 2) for label, v in spent.items()}
            print("rendered, mean ms a frame in each stage: " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))
        elif name == "rendered":
            res, fmt = run_rendered(args.n, args.seed), "id"
        elif name == "samples":
            if args.samples is None:
                print("samples: give the directory with --samples", file=sys.stderr)
                return 2
            try:
                res, fmt = run_lane_samples(args.samples, split), "id"
            except FileNotFoundError as exc:
                print(f"--samples: {exc}", file=sys.stderr)
                return 2
        elif name in REAL_SETS:
            if not (root / "plates").is_dir():
                print(f"{name}: skipped ({root / 'plates'} not found)")
                continue
            runner = {"id-crops": run_id_crops, "id-scenes": run_id_scenes,
                      "id-scenes-unstretched": lambda r, sp: run_id_scenes(r, sp, undo_stretch=True),
                      "us": run_us, "us-crops": run_us_crops, "us-boxes": run_us_jittered}[name]
            res = runner(root, split)
            fmt = "id" if name.startswith("id-") else "generic"
        else:
            print(f"unknown set {name!r}", file=sys.stderr)
            return 2
        f = score(res, fmt, args.min_confidence)
        if name == "rendered":
            f["frame_ms"] = f["median_ms"]  # the rendered frames are lane frames
        elif name in REAL_SETS and not args.no_frames:
            imgs, crop, ffmt = frame_images(name, root, split)
            f["frame_ms"] = frame_ms(PlateReader(ffmt), imgs, crop)
        if name == "rendered" and stages is not None:
            f["stages_ms"] = stages
        figures[name] = f
        prec = "n/a" if f["confident_precision"] is None else f"{f['confident_precision']:.1%}"
        print(f"{name:9s} n={f['n']:4d} exact={f['exact']:.1%} per_char={f['per_char']:.1%} "
              f"median={f['median_ms']:.1f} ms (cpu {f['median_cpu_ms']} ms) p95={f['p95_ms']:.1f} ms  "
              f"conf>={args.min_confidence}: {f['confident_share']:.1%} of images, right {prec} "
              f"({f['confident_right']}/{f['confident_n']}) exact_o0={f['exact_o0']:.1%} cer={f['cer']:.1%} "
              f"frame={f.get('frame_ms')} ms")
    if args.json:
        head = figures.get("rendered") or (next(iter(figures.values())) if figures else {})
        print(json.dumps({"exact": head.get("exact"), "per_char": head.get("per_char"),
                          "median_ms": head.get("median_ms"), "median_cpu_ms": head.get("median_cpu_ms"),
                          "split": args.split, "engine": engine, "sets": figures}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
