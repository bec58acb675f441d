"""Fetch the extra training faces: condensed and gothic sans fonts like those of real plates.

    python -m vision.fetch_fonts [--dir DIR]

Training only (the reader needs no font at run time). Debian packages only a few condensed plate-like
faces (``vision.train.PLATE_FONT_GLOBS``); the npm registry holds the Google Fonts as Fontsource packages,
so this takes a fixed list of them, at a pinned version, with ``npm pack`` (npm ships with Node.js) and
keeps their Latin WOFF files (regular, semi-bold and bold where the family has them; Pillow's FreeType
reads WOFF). The faces are SIL Open Font Licence; they are not put in the repository. The default
directory is ``vision.train.extra_font_dir()``: ``$LAJUR_TRAIN_FONTS`` or ``~/.cache/lajur/fonts``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from vision.train import extra_font_dir

VERSION = "5.3.0"
FAMILIES = (
    "alumni-sans", "anton", "antonio", "archivo-narrow", "asap-condensed", "barlow-condensed",
    "barlow-semi-condensed", "big-shoulders-text", "encode-sans-condensed", "fira-sans-condensed",
    "fira-sans-extra-condensed", "fjalla-one", "ibm-plex-sans-condensed", "khand", "league-gothic",
    "oswald", "pt-sans-narrow", "rajdhani", "saira-condensed", "saira-extra-condensed",
    "saira-semi-condensed", "staatliches", "teko", "ubuntu-condensed",
)
WEIGHTS = ("400", "600", "700")


class FontFetchError(RuntimeError):
    """npm is missing, or a package could not be fetched or held no Latin face."""


def fetch(family: str, out: Path, work: Path, version: str = VERSION) -> list[Path]:
    """``npm pack`` one Fontsource family into ``work`` and copy its Latin faces to ``out``."""
    npm = shutil.which("npm")
    if npm is None:
        raise FontFetchError("npm not found: install Node.js (Debian: nodejs npm)")
    spec = f"@fontsource/{family}@{version}"
    done = subprocess.run([npm, "pack", "--silent", spec], cwd=work, capture_output=True, text=True,
                          timeout=300)
    if done.returncode != 0:
        raise FontFetchError(f"npm pack {spec} failed: {done.stderr.strip()[-300:]}")
    tgz = work / done.stdout.strip().splitlines()[-1]
    kept = []
    with tarfile.open(tgz) as tar:
        for weight in WEIGHTS:
            name = f"package/files/{family}-latin-{weight}-normal.woff"
            try:
                member = tar.getmember(name)
            except KeyError:
                continue
            src = tar.extractfile(member)
            if src is None:
                continue
            dest = out / Path(name).name
            dest.write_bytes(src.read())
            kept.append(dest)
    if not kept:
        raise FontFetchError(f"{spec} holds no Latin face of weight {'/'.join(WEIGHTS)}")
    return kept


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=None, help="where the faces go (default: $LAJUR_TRAIN_FONTS or ~/.cache/lajur/fonts)")
    args = ap.parse_args(argv)
    out = args.dir or extra_font_dir()
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for family in FAMILIES:
            try:
                kept = fetch(family, out, Path(tmp))
            except (FontFetchError, subprocess.TimeoutExpired) as exc:
                print(f"lajur: {exc}", file=sys.stderr)
                return 1
            total += len(kept)
            print(f"{family}: {len(kept)} face(s)")
    print(f"{total} faces in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
