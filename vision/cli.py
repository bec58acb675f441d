"""``lajur plate read [--format id|generic] [--crop] IMAGE…`` (also ``python -m vision.cli read …``).

One JSON line per image: ``{"file", "plate" (normalised, or null), "confidence", "bbox" [x,y,w,h], "ms"}``.
Exit 0 even when a plate is not found; 2 when an image cannot be read (a message on stderr for each),
``LAJUR_VISION_ENGINE`` names an engine that is not there, or ``LAJUR_PLATE_MODELS_DIR`` (the lane's
``plate_models_dir``: a site's own learned files, ``vision/models.py``) cannot be read with.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2

from vision.models import ModelDirectoryError, use_directory
from vision.onnx_net import EngineSettingError, default_engine, use_engine
from vision.reader import PlateReader


def plate_read_main(argv: list[str], *, models_dir: Path | None = None, engine: str | None = None) -> int:
    """``models_dir`` and ``engine``: the site's ``plate_models_dir`` and ``vision_engine`` settings."""
    ap = argparse.ArgumentParser(prog="lajur plate read", description="Read number plates from images.")
    ap.add_argument("--format", choices=("id", "generic"), default="id",
                    help="plate grammar: id (Indonesian, default) or generic (2-10 letters/digits)")
    ap.add_argument("--crop", action="store_true", help="each image is already the plate, cut out")
    ap.add_argument("images", nargs="+", metavar="IMAGE")
    args = ap.parse_args(argv)
    try:
        use_engine(engine)
        default_engine()
        use_directory(models_dir)
    except (EngineSettingError, ModelDirectoryError) as exc:
        print(f"lajur plate read: {exc}", file=sys.stderr)
        return 2
    reader = PlateReader(args.format)
    failed = 0
    for name in args.images:
        path = Path(name)
        img = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
        if img is None:
            why = "no such file" if not path.exists() else "not a readable image"
            print(f"lajur plate read: {name}: {why}", file=sys.stderr)
            failed += 1
            continue
        r = reader.read_crop(img) if args.crop else reader.read(img)
        print(json.dumps(r.to_json(file=name)), flush=True)
    return 2 if failed else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "read":
        print("usage: python -m vision.cli read [--format id|generic] [--crop] IMAGE…", file=sys.stderr)
        return 2
    return plate_read_main(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
