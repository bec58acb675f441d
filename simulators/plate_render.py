"""Camera simulator renderer: a vehicle front with an Indonesian plate, deterministic for a seed.

``render_plate`` draws the plate itself (white plate/black characters or black plate/white characters, the
small validity line ``MM.YY`` under the number); ``render_scene`` puts it on a vehicle front at the lane
camera's geometry (1280x720, plate about 180-320 px wide) with perspective, blur, noise, lighting and glare.
Only OpenCV's built-in Hershey fonts are used, so no font package is needed.
"""

from __future__ import annotations

import cv2
import numpy as np

from vision.grammar import parse_id_plate

PLATE_W, PLATE_H = 430, 135  # millimetres on a real TNKB plate; also the pixel size of render_plate
_FONTS = (cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_TRIPLEX)


def _spaced(text: str) -> str:
    parts = parse_id_plate(text)
    if parts is None:
        return text.upper()
    return " ".join(p for p in parts if p)


def _text_block(text: str, font: int, thickness: int) -> np.ndarray:
    """White-on-black mask of ``text`` cropped to its ink."""
    scale = 3.0
    (tw, th), base = cv2.getTextSize(text, font, scale, thickness)
    img = np.zeros((th + base + 4 * thickness, tw + 4 * thickness), np.uint8)
    cv2.putText(img, text, (2 * thickness, th + 2 * thickness), font, scale, 255, thickness, cv2.LINE_AA)
    ys, xs = np.nonzero(img > 40)
    if len(xs) == 0:
        return img
    return img[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]


def render_plate(text: str, *, style: str = "white", validity: str | None = "08.29", seed: int = 0,
                 char_height: float = 0.5) -> np.ndarray:
    """A flat, front-on plate image (PLATE_H x PLATE_W, BGR). ``text`` like ``"AD 1234 XY"``."""
    if style not in ("white", "black"):
        raise ValueError("style must be 'white' or 'black'")
    rng = np.random.default_rng(seed)
    scale = 2  # draw at twice the size, then shrink (anti-aliasing)
    W, H = PLATE_W * scale, PLATE_H * scale
    bg, fg = (235, 20) if style == "white" else (25, 235)
    bg = int(np.clip(bg + rng.integers(-15, 10), 0, 255))
    plate = np.full((H, W), bg, np.uint8)
    # Raised border
    bw = int(6 * scale)
    cv2.rectangle(plate, (bw, bw), (W - bw, H - bw), fg, max(2, int(2.5 * scale)), cv2.LINE_AA)
    font = _FONTS[int(rng.integers(0, len(_FONTS)))]
    thickness = int(rng.integers(9, 13))
    block = _text_block(_spaced(text), font, thickness)
    ch = int(H * char_height)
    cw = int(block.shape[1] * ch / block.shape[0] * rng.uniform(0.8, 0.95))
    cw = min(cw, W - 8 * bw)
    block = cv2.resize(block, (cw, ch), interpolation=cv2.INTER_AREA)
    x0 = (W - cw) // 2
    y0 = int(H * 0.14)
    roi = plate[y0: y0 + ch, x0: x0 + cw]
    a = block.astype(np.float32) / 255.0
    roi[:] = (roi * (1 - a) + fg * a).astype(np.uint8)
    if validity:
        vb = _text_block(validity, cv2.FONT_HERSHEY_SIMPLEX, 6)
        vh = int(H * 0.13)
        vw = int(vb.shape[1] * vh / vb.shape[0])
        vb = cv2.resize(vb, (vw, vh), interpolation=cv2.INTER_AREA)
        vx, vy = (W - vw) // 2, y0 + ch + int(H * 0.1)
        vr = plate[vy: vy + vh, vx: vx + vw]
        a = vb.astype(np.float32) / 255.0
        vr[:] = (vr * (1 - a) + fg * a).astype(np.uint8)
    plate = cv2.resize(plate, (PLATE_W, PLATE_H), interpolation=cv2.INTER_AREA)
    out = cv2.cvtColor(plate, cv2.COLOR_GRAY2BGR).astype(np.float32)
    tint = rng.uniform(0.93, 1.0, size=3)
    return np.clip(out * tint, 0, 255).astype(np.uint8)


def _vehicle_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    img = np.zeros((height, width, 3), np.float32)
    # sky/wall and road
    top = rng.uniform(120, 220, size=3)
    road = rng.uniform(70, 130)
    grad = np.linspace(0, 1, height)[:, None, None]
    img[:] = top * (1 - grad) + road * grad
    # vehicle body
    body = rng.uniform(20, 230, size=3)
    x0, x1 = int(width * rng.uniform(0.08, 0.2)), int(width * rng.uniform(0.8, 0.92))
    y0, y1 = int(height * rng.uniform(0.1, 0.25)), int(height * rng.uniform(0.88, 0.98))
    cv2.rectangle(img, (x0, y0), (x1, y1), body.tolist(), -1)
    # windscreen
    cv2.rectangle(img, (x0 + 40, y0 + 10), (x1 - 40, y0 + int((y1 - y0) * 0.3)),
                  (rng.uniform(30, 90),) * 3, -1)
    # grille with horizontal bars (a classic false candidate)
    gy0, gy1 = y0 + int((y1 - y0) * 0.38), y0 + int((y1 - y0) * 0.55)
    gx0, gx1 = x0 + int((x1 - x0) * 0.3), x1 - int((x1 - x0) * 0.3)
    cv2.rectangle(img, (gx0, gy0), (gx1, gy1), (25, 25, 25), -1)
    for y in range(gy0 + 6, gy1, 12):
        cv2.line(img, (gx0 + 4, y), (gx1 - 4, y), (150, 150, 150), 3)
    # headlights
    for cx in (x0 + int((x1 - x0) * 0.13), x1 - int((x1 - x0) * 0.13)):
        cv2.ellipse(img, (cx, (gy0 + gy1) // 2), (int((x1 - x0) * 0.08), 28), 0, 0, 360,
                    (235, 235, 225), -1)
    # bumper
    by = y0 + int((y1 - y0) * 0.62)
    cv2.rectangle(img, (x0, by), (x1, by + 8), (body * 0.6).tolist(), -1)
    # some texture
    img += rng.normal(0, 6, size=(height // 8, width // 8, 1)).repeat(8, 0).repeat(8, 1)[:height, :width]
    return img


def render_scene(text: str, *, seed: int = 0, width: int = 1280, height: int = 720, style: str | None = None,
                 validity: str | None = None, perspective: bool = True, blur: float | None = None,
                 noise: float | None = None, lighting: float | None = None, glare: bool | None = None,
                 plate_width: int | None = None) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A vehicle front with the plate; returns (BGR image, plate bbox (x, y, w, h)). Deterministic per seed.

    ``blur`` is a Gaussian sigma in pixels, ``noise`` a Gaussian standard deviation in grey levels,
    ``lighting`` a brightness factor (1 = normal); each None draws a mild random value from the seed.
    """
    rng = np.random.default_rng(seed)
    if style is None:
        style = "white" if rng.random() < 0.5 else "black"
    if validity is None:
        validity = f"{int(rng.integers(1, 13)):02d}.{int(rng.integers(25, 31)):02d}"
    blur = float(rng.uniform(0.0, 1.2)) if blur is None else float(blur)
    noise = float(rng.uniform(1.0, 6.0)) if noise is None else float(noise)
    lighting = float(rng.uniform(0.7, 1.15)) if lighting is None else float(lighting)
    glare = bool(rng.random() < 0.3) if glare is None else glare
    img = _vehicle_background(rng, width, height)
    plate = render_plate(text, style=style, validity=validity, seed=int(rng.integers(0, 2**31)))
    pw = int(plate_width or rng.uniform(0.14, 0.25) * width)
    ph = int(pw * PLATE_H / PLATE_W)
    cx = width * rng.uniform(0.35, 0.65)
    cy = height * rng.uniform(0.62, 0.78)
    src = np.float32([[0, 0], [PLATE_W, 0], [PLATE_W, PLATE_H], [0, PLATE_H]])
    dst = np.float32([[-pw / 2, -ph / 2], [pw / 2, -ph / 2], [pw / 2, ph / 2], [-pw / 2, ph / 2]])
    if perspective:
        ang = np.deg2rad(rng.uniform(-6, 6))
        rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]], np.float32)
        dst = dst @ rot.T
        # yaw-like foreshortening: one side shorter
        yaw = rng.uniform(-0.12, 0.12)
        dst[[1, 2], 1] *= 1 - yaw
        dst[[0, 3], 1] *= 1 + yaw
        dst += rng.normal(0, pw * 0.012, size=dst.shape).astype(np.float32)
    dst += np.float32([cx, cy])
    M = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(plate, M, (width, height), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full((PLATE_H, PLATE_W), 255, np.uint8), M, (width, height))
    a = (mask.astype(np.float32) / 255.0)[..., None]
    img = img * (1 - a) + warped.astype(np.float32) * a
    # lighting: global factor and a left-right gradient
    g = np.linspace(rng.uniform(0.85, 1.0), rng.uniform(0.85, 1.0), width)[None, :, None]
    img = img * lighting * g
    if glare:
        gx = cx + rng.uniform(-0.4, 0.4) * pw
        gy = cy + rng.uniform(-0.3, 0.3) * ph
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        r = pw * rng.uniform(0.08, 0.18)
        img += rng.uniform(60, 120) * np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * r * r))[..., None]
    if blur > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    if noise > 0:
        img += rng.normal(0, noise, size=img.shape).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    xs, ys = dst[:, 0], dst[:, 1]
    x0, y0 = int(max(0, np.floor(xs.min()))), int(max(0, np.floor(ys.min())))
    x1, y1 = int(min(width, np.ceil(xs.max()))), int(min(height, np.ceil(ys.max())))
    return out, (x0, y0, x1 - x0, y1 - y0)


def random_id_plate(rng: np.random.Generator) -> str:
    """A random plate text that fits the Indonesian grammar (region codes from anywhere)."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    regions = ["G", "H", "K", "R", "AA", "AD", "B", "D", "E", "F", "L", "N", "S", "T", "W", "AB", "BG", "DK"]
    region = regions[int(rng.integers(0, len(regions)))]
    nd = int(rng.choice([1, 2, 3, 4, 4, 4, 4]))
    digits = str(int(rng.integers(1, 10))) + "".join(str(int(d)) for d in rng.integers(0, 10, nd - 1))
    ns = int(rng.choice([0, 1, 2, 2, 3, 3]))
    suffix = "".join(letters[int(i)] for i in rng.integers(0, 26, ns))
    return f"{region} {digits} {suffix}".strip()
