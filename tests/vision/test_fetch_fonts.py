"""The extra training faces: fetched from the npm registry, found by the trainer, drawn at their share."""

import glob
import shutil

import numpy as np
import pytest

from vision import fetch_fonts
from vision.train import extra_font_files
from vision.train_recognizer import EXTRA_FONT_SHARE, Synth

DEJAVU = sorted(glob.glob("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"))


@pytest.fixture()
def font_dir(tmp_path, monkeypatch):
    d = tmp_path / "fonts"
    d.mkdir()
    monkeypatch.setenv("LAJUR_TRAIN_FONTS", str(d))
    return d


def test_extra_faces_are_the_font_files_of_the_directory(font_dir):
    for name in ("b.woff", "a.ttf", "c.otf", "notes.txt", "d.css"):
        (font_dir / name).write_bytes(b"x")
    assert [p.rsplit("/", 1)[1] for p in extra_font_files()] == ["a.ttf", "b.woff", "c.otf"]


def test_no_directory_means_no_extra_faces(tmp_path, monkeypatch):
    monkeypatch.setenv("LAJUR_TRAIN_FONTS", str(tmp_path / "absent"))
    assert extra_font_files() == []
    synth = Synth(np.random.default_rng(1), extra_fonts=True)
    assert synth.extra_fonts == []
    assert Synth(np.random.default_rng(1)).n_fonts == synth.n_fonts


@pytest.mark.skipif(not DEJAVU, reason="DejaVu fonts not installed (Debian fonts-dejavu-core)")
def test_plates_are_drawn_in_the_extra_faces_at_their_share(font_dir):
    shutil.copy(DEJAVU[0], font_dir / "zz-extra.ttf")
    without = Synth(np.random.default_rng(1))
    synth = Synth(np.random.default_rng(1), extra_fonts=True)
    assert synth.n_fonts == without.n_fonts + 1
    assert synth.extra_fonts == [synth.n_fonts - 1]  # the extra faces come last
    assert synth.plate_fonts == without.plate_fonts
    # the extra face is the file's: its glyphs equal those of the same font among the common ones
    twin = [i for i in range(without.n_fonts)
            if np.array_equal(without.glyphs["W"][i], synth.glyphs["W"][synth.extra_fonts[0]])]
    assert twin
    for kind in ("id", "us"):
        draws = [synth._font(kind) for _ in range(4000)]
        share = np.mean([d in synth.extra_fonts for d in draws])
        assert abs(share - EXTRA_FONT_SHARE[kind]) < 0.03, (kind, share)


def test_without_npm_the_fetch_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert fetch_fonts.main(["--dir", str(tmp_path / "fonts")]) == 1
    assert "npm not found" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm not installed (Debian: nodejs npm)")
def test_a_family_is_fetched_from_the_npm_registry_and_pillow_reads_it(tmp_path):
    from PIL import ImageFont

    out = tmp_path / "fonts"
    out.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    try:
        kept = fetch_fonts.fetch("league-gothic", out, work)
    except fetch_fonts.FontFetchError as exc:
        if any(code in str(exc) for code in ("ENOTFOUND", "ETIMEDOUT", "EAI_AGAIN", "ECONNREFUSED")):
            pytest.skip(f"the npm registry cannot be reached here: {exc}")
        raise
    assert [p.name for p in kept] == ["league-gothic-latin-400-normal.woff"]
    font = ImageFont.truetype(str(kept[0]), 100)
    x0, y0, x1, y1 = font.getbbox("W")
    assert x1 - x0 > 10 and y1 - y0 > 40  # a real glyph, not an empty face
    with pytest.raises(fetch_fonts.FontFetchError, match="failed"):
        fetch_fonts.fetch("no-such-family-lajur", out, work)
