"""Train the character classifier shipped in vision/data/chars.npz.

    python -m vision.train [--samples 60000] [--epochs 18] [--seed 1] [--real-dev DATASETS_DIR]

Training glyphs are synthetic: OpenCV's Hershey fonts plus the DejaVu TrueType fonts (Debian package
``fonts-dejavu-core``, and ``fonts-dejavu-extra`` for the condensed faces if present; drawn with Pillow, needed
only here, at training time), each with random affine distortion, stroke weight, blur, down-sampling,
noise, contrast and crop jitter; plus a ``junk`` class (bars, dots, border pieces, fragments, textures).
With ``--real-dev`` it also adds character crops segmented from the *dev* split of the real photographs
(see ``vision.datasets``): the test split is never used here.
"""

from __future__ import annotations

import argparse
import glob
import os
import time
from pathlib import Path

import cv2
import numpy as np

from vision.classifier import JUNK, MODEL_PATH, N_CLASSES, features, normalise_patch
from vision.grammar import CLASS_INDEX, CLASSES

_HERSHEY = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX,
            cv2.FONT_HERSHEY_COMPLEX]
_TTF_GLOBS = ["/usr/share/fonts/truetype/dejavu/DejaVuSans*.ttf",
              "/usr/share/fonts/truetype/dejavu/DejaVuSansMono*.ttf"]
# Condensed DIN-like faces, close to the Indonesian (and many US) plate fonts; training only, each from a
# Debian package: fonts-opendin, fonts-bebas-neue, fonts-roboto-unhinted, fonts-open-sans. The recogniser
# (vision.train_recognizer) draws its Indonesian plates mostly in these when they are installed.
PLATE_FONT_GLOBS = ["/usr/share/fonts/truetype/opendin/OSP-DIN.ttf",
                    "/usr/share/fonts/opentype/bebas-neue/BebasNeue-[BR]*.otf",
                    "/usr/share/fonts/truetype/roboto/unhinted/RobotoCondensed-[BMR]*.ttf",
                    "/usr/share/fonts/truetype/open-sans/OpenSans-CondBold.ttf"]
EXTRA_FONT_SUFFIXES = (".woff", ".ttf", ".otf")


def _tight(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask > 60)
    if len(xs) == 0:
        return mask
    return mask[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]


def glyph_masks(plate_fonts: bool = False, extra_fonts: bool = False) -> dict[str, list[np.ndarray]]:
    """White-on-black ink masks (about 96 px high) of every class character in every available font, in the
    same font order for every character. With ``plate_fonts`` the faces of ``PLATE_FONT_GLOBS`` that are
    installed come after the common ones (``plate_font_files()`` lists them); with ``extra_fonts`` the faces
    fetched by ``vision.fetch_fonts`` come last (``extra_font_files()``)."""
    out: dict[str, list[np.ndarray]] = {c: [] for c in CLASSES}
    for font in _HERSHEY:
        for th in (4, 7, 10):
            for c in CLASSES:
                img = np.zeros((140, 120), np.uint8)
                cv2.putText(img, c, (15, 115), font, 3.2, 255, th, cv2.LINE_AA)
                out[c].append(_tight(img))
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError:  # pragma: no cover - Pillow is only needed for TrueType glyphs
        print("Pillow not available: training on Hershey fonts only")
        return out
    files = sorted({f for g in _TTF_GLOBS for f in glob.glob(g)})
    files = [f for f in files if "ExtraLight" not in f]
    if plate_fonts:
        files += plate_font_files()
    if extra_fonts:
        files += extra_font_files()
    for f in files:
        font = ImageFont.truetype(f, 110)
        for c in CLASSES:
            im = Image.new("L", (140, 160), 0)
            ImageDraw.Draw(im).text((15, 5), c, fill=255, font=font)
            out[c].append(_tight(np.array(im)))
    print(f"fonts: {len(_HERSHEY)} Hershey x 3 weights, {len(files)} TrueType")
    return out


def plate_font_files() -> list[str]:
    """The installed plate-like faces (``PLATE_FONT_GLOBS``), sorted; no italics."""
    return sorted({f for g in PLATE_FONT_GLOBS for f in glob.glob(g) if "Italic" not in f})


def extra_font_dir() -> Path:
    """Where ``vision.fetch_fonts`` puts the extra training faces: ``$LAJUR_TRAIN_FONTS`` or
    ``~/.cache/lajur/fonts``."""
    env = os.environ.get("LAJUR_TRAIN_FONTS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lajur" / "fonts"


def extra_font_files(directory: Path | None = None) -> list[str]:
    """The extra training faces fetched by ``vision.fetch_fonts`` (condensed and gothic sans), sorted."""
    d = directory or extra_font_dir()
    if not d.is_dir():
        return []
    return sorted(str(f) for f in d.iterdir() if f.suffix.lower() in EXTRA_FONT_SUFFIXES)


def _augment_glyph(mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Render one distorted, degraded glyph; return (grey crop around the ink, light_on_dark)."""
    m = mask.astype(np.float32) / 255.0
    h, w = m.shape
    # stroke weight
    k = int(rng.integers(0, 3)) * 2 + 1
    if k > 1:
        kern = np.ones((k, k), np.uint8)
        m = cv2.dilate(m, kern) if rng.random() < 0.5 else cv2.erode(m, kern)
    pad = 30
    canvas = np.zeros((h + 2 * pad, w + 2 * pad), np.float32)
    canvas[pad: pad + h, pad: pad + w] = m
    sx = rng.uniform(0.65, 1.2)
    shear = rng.uniform(-0.22, 0.22)
    ang = np.deg2rad(rng.uniform(-8, 8))
    c, s = np.cos(ang), np.sin(ang)
    A = np.array([[c, -s], [s, c]]) @ np.array([[sx, shear], [0, 1.0]])
    ctr = np.array([canvas.shape[1] / 2, canvas.shape[0] / 2])
    M = np.hstack([A, (ctr - A @ ctr)[:, None]]).astype(np.float32)
    canvas = cv2.warpAffine(canvas, M, (canvas.shape[1], canvas.shape[0]))
    # neighbours' edges and the plate border sometimes intrude
    if rng.random() < 0.2:
        y = int(rng.integers(0, canvas.shape[0]))
        cv2.line(canvas, (0, y), (canvas.shape[1], y), 1.0, int(rng.integers(2, 6)))
    ys, xs = np.nonzero(canvas > 0.3)
    if len(xs) == 0:
        ys, xs = np.array([0, canvas.shape[0] - 1]), np.array([0, canvas.shape[1] - 1])
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    # target character height in the camera image
    th = float(rng.uniform(10, 60))
    scale = th / max(1, (y1 - y0))
    bg = rng.uniform(90, 250)
    fg = bg - rng.uniform(50, min(230, bg))
    img = bg + (fg - bg) * canvas
    if rng.random() < 0.3:  # illumination gradient / glare
        gx = np.linspace(rng.uniform(-40, 40), rng.uniform(-40, 40), img.shape[1])[None, :]
        img = img + gx
    small = cv2.resize(img, (max(2, int(img.shape[1] * scale)), max(2, int(img.shape[0] * scale))),
                       interpolation=cv2.INTER_AREA)
    sig = rng.uniform(0, 1.3)
    if sig > 0.3:
        small = cv2.GaussianBlur(small, (0, 0), sig)
    small = small + rng.normal(0, rng.uniform(0, 10), small.shape)
    # crop with jitter (as the segmenter's bounding box would be)
    jy = max(1.0, th * 0.06)
    by0 = int(round(y0 * scale + rng.uniform(-jy, jy)))
    by1 = int(round(y1 * scale + rng.uniform(-jy, jy)))
    bx0 = int(round(x0 * scale + rng.uniform(-jy, jy)))
    bx1 = int(round(x1 * scale + rng.uniform(-jy, jy)))
    by0, bx0 = max(0, by0), max(0, bx0)
    by1, bx1 = min(small.shape[0], max(by0 + 2, by1)), min(small.shape[1], max(bx0 + 1, bx1))
    crop = np.clip(small[by0:by1, bx0:bx1], 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        return 255 - crop, True
    return crop, False


def _junk(rng: np.random.Generator, masks: dict[str, list[np.ndarray]]) -> tuple[np.ndarray, bool]:
    h = int(rng.integers(12, 60))
    w = int(h * rng.uniform(0.15, 1.3))
    bg = rng.uniform(90, 250)
    fg = bg - rng.uniform(50, min(230, bg))
    img = np.full((h, w), bg, np.float32)
    kind = int(rng.choice([0, 1, 3, 4, 5]))
    if kind == 0:  # horizontal bars (grilles)
        for y in range(int(rng.integers(0, 4)), h, int(rng.integers(4, 10))):
            cv2.line(img, (0, y), (w, y), fg, int(rng.integers(1, 4)))
    elif kind == 1:  # blob / bolt / dot
        cv2.ellipse(img, (w // 2, h // 2), (max(1, w // 2 - 1), max(1, h // 2 - 1)), 0, 0, 360, fg, -1)
    elif kind == 2:  # border piece: corner or bracket
        t = int(rng.integers(1, 4))
        cv2.line(img, (0, 0), (0, h), fg, t)
        if rng.random() < 0.5:
            cv2.line(img, (0, 0), (w, 0), fg, t)
        if rng.random() < 0.5:
            cv2.line(img, (0, h - 1), (w, h - 1), fg, t)
    elif kind == 3:  # texture
        img += rng.normal(0, rng.uniform(20, 60), img.shape)
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 2))
    elif kind == 4:  # fragment of a character (top/bottom/left part)
        c = CLASSES[int(rng.integers(0, len(CLASSES)))]
        fonts = masks[c]
        mk = fonts[int(rng.integers(0, len(fonts)))]
        part = int(rng.integers(0, 2))
        if part == 0:
            mk = mk[: max(2, int(mk.shape[0] * rng.uniform(0.2, 0.45)))]
        elif part == 1:
            mk = mk[int(mk.shape[0] * rng.uniform(0.55, 0.8)):]
        else:
            mk = mk[:, : max(2, int(mk.shape[1] * rng.uniform(0.2, 0.4)))]
        mk = cv2.resize(mk, (w, h)).astype(np.float32) / 255.0
        img = bg + (fg - bg) * mk
    else:  # two characters fused
        a = masks[CLASSES[int(rng.integers(0, 36))]][0]
        b = masks[CLASSES[int(rng.integers(0, 36))]][0]
        hh = max(a.shape[0], b.shape[0])
        pair = np.zeros((hh, a.shape[1] + b.shape[1]), np.uint8)
        pair[: a.shape[0], : a.shape[1]] = a
        pair[: b.shape[0], a.shape[1]:] = b
        w = int(h * rng.uniform(1.0, 1.6))
        img = bg + (fg - bg) * cv2.resize(pair, (w, h)).astype(np.float32) / 255.0
    img += rng.normal(0, 4, img.shape)
    crop = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        return 255 - crop, True
    return crop, False


def make_dataset(n: int, seed: int, junk_share: float = 0.12) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    masks = glyph_masks()
    X, y = [], []
    for _ in range(n):
        if rng.random() < junk_share:
            crop, inv = _junk(rng, masks)
            label = JUNK
        else:
            label = int(rng.integers(0, len(CLASSES)))
            fonts = masks[CLASSES[label]]
            crop, inv = _augment_glyph(fonts[int(rng.integers(0, len(fonts)))], rng)
        X.append(features(normalise_patch(crop, inv)))
        y.append(label)
    return np.stack(X), np.array(y, np.int64)


def train_mlp(X: np.ndarray, y: np.ndarray, *, hidden: int = 256, epochs: int = 18, seed: int = 0,
              lr: float = 2e-3, batch: int = 256, weight_decay: float = 1e-4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    mu = X.mean(axis=0)
    sd = X.std(axis=0) + 1e-3
    Xn = ((X - mu) / sd).astype(np.float32)
    d = X.shape[1]
    params = {
        "W1": (rng.normal(0, np.sqrt(2 / d), (d, hidden))).astype(np.float32),
        "b1": np.zeros(hidden, np.float32),
        "W2": (rng.normal(0, np.sqrt(1 / hidden), (hidden, N_CLASSES))).astype(np.float32),
        "b2": np.zeros(N_CLASSES, np.float32),
    }
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(v) for k, v in params.items()}
    b1, b2, t = 0.9, 0.999, 0
    n = len(Xn)
    for ep in range(epochs):
        order = rng.permutation(n)
        step_lr = lr * (0.5 * (1 + np.cos(np.pi * ep / epochs)))
        loss_sum = 0.0
        for i in range(0, n, batch):
            idx = order[i: i + batch]
            xb, yb = Xn[idx], y[idx]
            if rng.random() < 1.0:  # input dropout-ish noise
                xb = xb + rng.normal(0, 0.1, xb.shape).astype(np.float32)
            h_pre = xb @ params["W1"] + params["b1"]
            h = np.maximum(h_pre, 0)
            z = h @ params["W2"] + params["b2"]
            z -= z.max(axis=1, keepdims=True)
            e = np.exp(z)
            p = e / e.sum(axis=1, keepdims=True)
            loss_sum += float(-np.log(p[np.arange(len(yb)), yb] + 1e-9).sum())
            g = p
            g[np.arange(len(yb)), yb] -= 1
            g /= len(yb)
            grads = {"W2": h.T @ g + weight_decay * params["W2"], "b2": g.sum(0)}
            gh = (g @ params["W2"].T) * (h_pre > 0)
            grads["W1"] = xb.T @ gh + weight_decay * params["W1"]
            grads["b1"] = gh.sum(0)
            t += 1
            for k in params:
                m[k] = b1 * m[k] + (1 - b1) * grads[k]
                v[k] = b2 * v[k] + (1 - b2) * grads[k] ** 2
                mh = m[k] / (1 - b1 ** t)
                vh = v[k] / (1 - b2 ** t)
                params[k] -= (step_lr * mh / (np.sqrt(vh) + 1e-8)).astype(np.float32)
        print(f"epoch {ep + 1}/{epochs} loss {loss_sum / n:.4f}")
    params["mu"] = mu.astype(np.float32)
    params["sd"] = sd.astype(np.float32)
    return params


def _accuracy(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> float:
    from vision.classifier import CharClassifier

    clf = CharClassifier(params)
    return float((clf.predict_proba(X).argmax(1) == y).mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=60000)
    ap.add_argument("--epochs", type=int, default=18)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--real-dev", type=Path, default=None,
                    help="datasets directory (…/shared/datasets): add char crops from the dev split")
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    args = ap.parse_args(argv)
    t0 = time.time()
    X, y = make_dataset(args.samples, args.seed)
    print(f"synthetic: {len(X)} samples, {X.shape[1]} features, {time.time() - t0:.1f}s")
    if args.real_dev is not None:
        from vision.datasets import real_dev_chars

        Xr, yr = real_dev_chars(args.real_dev)
        print(f"real dev characters: {len(Xr)}")
        if len(Xr):
            reps = max(1, int(0.1 * len(X) / len(Xr)))
            X = np.concatenate([X] + [Xr] * reps)
            y = np.concatenate([y] + [yr] * reps)
    Xv, yv = make_dataset(4000, args.seed + 1000)
    params = train_mlp(X, y, epochs=args.epochs, seed=args.seed)
    print(f"held-out synthetic accuracy: {_accuracy(params, Xv, yv):.4f}")
    params["temperature"] = np.float32(1.0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **{k: np.asarray(v) for k, v in params.items()})
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB) in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

__all__ = ["CLASS_INDEX", "main", "make_dataset", "train_mlp"]
