"""Plate formats and grammar-constrained decoding.

Two formats:

* ``id`` (default): Indonesian TNKB plates: region code of 1-2 letters, 1-4 digits, 0-3 suffix letters
  (``G 1234 ABC``, ``H 12 A``, ``AD 5678 XY``). On these plates the letter O and the digit 0 are the same
  glyph, so only the position decides; I/1, B/8, S/5, Z/2 are also fixed by position.
* ``generic``: any 2-10 letters and digits (real photographs from other countries); a glyph read as the
  letter O is reported as the digit 0 (one glyph on most plates).

The decoder takes, for each segmented character, a probability per class (``CLASSES``) and returns the most
probable string the format accepts, with the probability of each chosen character.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

DIGITS = "0123456789"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CLASSES = DIGITS + LETTERS  # classifier output order
CLASS_INDEX = {c: i for i, c in enumerate(CLASSES)}

# Glyphs that are read as the other kind depending on the position (digit <-> letter).
DIGIT_FOR_LETTER = {"O": "0", "D": "0", "Q": "0", "I": "1", "L": "1", "T": "1", "B": "8", "S": "5",
                    "Z": "2", "G": "6", "A": "4"}
LETTER_FOR_DIGIT = {"0": "O", "1": "I", "8": "B", "5": "S", "2": "Z", "6": "G", "4": "A", "7": "T"}
# Weight given to a confusable glyph of the other kind (O/0 is one glyph on Indonesian plates: weight 1).
_SAME_GLYPH = {("O", "0"), ("0", "O")}
_CONFUSION_WEIGHT = 0.6
_MINOR_CONFUSION = {("D", "0"), ("Q", "0"), ("L", "1"), ("T", "1"), ("G", "6"), ("A", "4"), ("4", "A"),
                    ("6", "G"), ("7", "T")}
_MINOR_WEIGHT = 0.15

# Region codes of Indonesian plates (TNKB), the whole country: Java and Bali-Nusa Tenggara, Sumatra,
# Kalimantan, Sulawesi, Maluku and Papua (old DS and the new provinces' codes included), and the special
# RI (government) and CD/CC (diplomatic, consular). A reading whose region is not one of them is far more
# likely a misread letter than a real plate, so the decoder prefers a listed code when the glyphs allow it
# (``_UNKNOWN_REGION`` is the weight of an unlisted one) and reports the unlisted one with less confidence.
ID_REGION_CODES = frozenset(
    "A B D E F G H K L M N P R S T W Z AA AB AD AE AG "
    "BA BB BD BE BG BH BK BL BM BN BP "
    "DA DB DC DD DE DG DH DK DL DM DN DP DR DS DT DW EA EB ED "
    "KB KH KT KU PA PB PG PS PT PY RI CC CD".split())
_UNKNOWN_REGION = 0.05

_ZERO, _LETTER_O = CLASS_INDEX["0"], CLASS_INDEX["O"]
_LEADING_ZERO = math.log(1e-3)
_ID_RE = re.compile(r"^([A-Z]{1,2})([0-9]{1,4})([A-Z]{0,3})$")
_GENERIC_RE = re.compile(r"^[A-Z0-9]{2,10}$")


class PlateFormat(StrEnum):
    ID = "id"
    GENERIC = "generic"


def normalise(plate: str | None) -> str:
    """Upper case, without spaces, dots, dashes or anything that is not a letter or a digit."""
    if not plate:
        return ""
    return "".join(ch for ch in plate.upper() if ch.isascii() and ch.isalnum())


def parse_id_plate(plate: str) -> tuple[str, str, str] | None:
    """Split an Indonesian plate into (region, number, suffix), or None when it does not fit the grammar."""
    m = _ID_RE.match(normalise(plate))
    if not m:
        return None
    return m.group(1), m.group(2), m.group(3)


def is_valid(plate: str, fmt: PlateFormat | str = PlateFormat.ID) -> bool:
    p = normalise(plate)
    if PlateFormat(fmt) is PlateFormat.ID:
        return _ID_RE.match(p) is not None
    return _GENERIC_RE.match(p) is not None


def canonical(plate: str | None, fmt: PlateFormat | str = PlateFormat.ID) -> str:
    """Normalised plate; for ``id``, O/0 and I/1 etc. put right by position (used for comparisons)."""
    p = normalise(plate)
    if PlateFormat(fmt) is not PlateFormat.ID or not p:
        return p
    # Re-decode with one-hot probabilities so position-aware fixes apply.
    probs = np.zeros((len(p), len(CLASSES)), dtype=np.float64)
    for i, ch in enumerate(p):
        probs[i, CLASS_INDEX[ch]] = 1.0
    res = decode(probs, PlateFormat.ID)
    return res.plate if res.plate else p


_USUAL_ID = re.compile(r"([A-Z]{1,2})([0-9]{1,4})([A-Z]{1,3})")


def usual_shape(plate: str | None, fmt: PlateFormat | str = PlateFormat.ID) -> bool:
    """Whether a reading has its region's usual plate shape. For ``id``: a listed region code (1-2 letters),
    1-4 digits and 1-3 suffix letters. The grammar also allows no suffix (older and official plates), but
    fewer than 1 in 100 of the real plates in the shared sets lack one, while a box that cuts a plate's end off
    gives exactly that (``AB1067`` for AB 1067 GF): such a reading is not to be trusted without an officer.
    ``generic``: 4-8 characters (2-3 are signs and stickers more often than plates)."""
    p = normalise(plate)
    if PlateFormat(fmt) is not PlateFormat.ID:
        return 4 <= len(p) <= 8
    m = _USUAL_ID.fullmatch(p)
    return bool(m) and m.group(1) in ID_REGION_CODES


def plates_match(a: str | None, b: str | None, fmt: PlateFormat | str = PlateFormat.ID) -> bool:
    """Exit match: the same plate, compared normalised (and, for ``id``, O/0 etc. fixed by position)."""
    if not a or not b:
        return False
    return canonical(a, fmt) == canonical(b, fmt)


@dataclass
class Decoded:
    plate: str | None
    confidence: float
    char_probs: list[float]


def _kind_matrices() -> tuple[np.ndarray, np.ndarray]:
    """(36, 10) and (36, 26): a position's class probabilities to its scores as a digit and as a letter.
    A digit position counts a letter with the digit's shape towards that digit (weighted by how alike
    the two glyphs are), and a letter position the other way round."""
    def weight(pair: tuple[str, str]) -> float:
        if pair in _SAME_GLYPH:
            return 1.0
        return _MINOR_WEIGHT if pair in _MINOR_CONFUSION else _CONFUSION_WEIGHT

    n = len(CLASSES)
    to_digit = np.zeros((n, 10))
    to_letter = np.zeros((n, 26))
    to_digit[np.arange(10), np.arange(10)] = 1.0
    to_letter[np.arange(10, n), np.arange(26)] = 1.0
    for lch, dch in DIGIT_FOR_LETTER.items():
        to_digit[CLASS_INDEX[lch], CLASS_INDEX[dch]] += weight((lch, dch))
    for dch, lch in LETTER_FOR_DIGIT.items():
        to_letter[CLASS_INDEX[dch], CLASS_INDEX[lch] - 10] += weight((dch, lch))
    return to_digit, to_letter


_TO_DIGIT, _TO_LETTER = _kind_matrices()


def _region_priors() -> tuple[np.ndarray, np.ndarray]:
    """Log weights of one-letter codes (26,) and two-letter codes (26, 26): 0 when listed."""
    pen = math.log(_UNKNOWN_REGION)
    one = np.full(26, pen)
    two = np.full((26, 26), pen)
    for code in ID_REGION_CODES:
        idx = [LETTERS.index(c) for c in code]
        if len(idx) == 1:
            one[idx[0]] = 0.0
        else:
            two[idx[0], idx[1]] = 0.0
    return one, two


_REGION_ONE, _REGION_TWO = _region_priors()


def _kind_scores(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-position scores for each digit (as a digit position) and each letter (as a letter position)."""
    # np.minimum/np.maximum: np.clip's own cost is most of the time on arrays this small
    return (np.minimum(np.maximum(p @ _TO_DIGIT, 0.0), 1.0),
            np.minimum(np.maximum(p @ _TO_LETTER, 0.0), 1.0))


def decode(probs: np.ndarray, fmt: PlateFormat | str = PlateFormat.ID,
           breaks: np.ndarray | list[float] | None = None) -> Decoded:
    """Best string accepted by the format, given ``probs`` (n_positions x len(CLASSES)).

    For ``id`` every position is assigned to a section (region letters, digits, suffix letters) by dynamic
    programming over the grammar; inside a section the glyph is read as the section's kind, so ``0``
    in the region becomes ``O`` and ``O`` among the digits becomes ``0``. The confidence is the product of
    the chosen characters' probabilities (each the share of the position's mass given to it). The region
    is a listed code (``ID_REGION_CODES``) unless the glyphs say otherwise by a factor of 20; an unlisted one
    costs that factor in confidence.

    ``breaks`` (optional, ``id`` only): for each of the n-1 gaps between neighbours, the probability that
    it separates two sections (a wide gap on the plate); it decides e.g. ``H 41 OY`` against ``H 410 Y``.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < len(CLASSES):
        raise ValueError(f"probs must be (n, {len(CLASSES)})")
    p = p[:, : len(CLASSES)]
    n = p.shape[0]
    fmt = PlateFormat(fmt)
    if fmt is PlateFormat.GENERIC:
        if not 2 <= n <= 10:
            return Decoded(None, 0.0, [])
        # O and 0 are one glyph on most plates (and several US states do not issue the letter O): read as 0,
        # as the OpenALPR benchmark's US ground truth does
        p = p.copy()
        p[:, _ZERO] += p[:, _LETTER_O]
        p[:, _LETTER_O] = 0.0
        tot = p.sum(axis=1) + 1e-12
        idx = p.argmax(axis=1)
        cps = [float(p[i, idx[i]] / tot[i]) for i in range(n)]
        return Decoded("".join(CLASSES[i] for i in idx), float(np.prod(cps)), cps)

    if not 2 <= n <= 9:
        return Decoded(None, 0.0, [])
    digit, letter = _kind_scores(p)
    tot = p.sum(axis=1) + 1e-12
    best_d = digit.argmax(axis=1)
    best_l = letter.argmax(axis=1)
    ld = np.log(np.maximum(digit[np.arange(n), best_d] / tot, 1e-9))
    ll = np.log(np.maximum(letter[np.arange(n), best_l] / tot, 1e-9))
    # the region's letters are chosen among the listed codes first (an unlisted code costs _UNKNOWN_REGION)
    lr0 = np.log(np.maximum(letter[0] / tot[0], 1e-9))
    lr1 = np.log(np.maximum(letter[1] / tot[1], 1e-9))
    one = lr0 + _REGION_ONE
    two = lr0[:, None] + lr1[None, :] + _REGION_TWO
    region_one = int(one.argmax())
    region_two = divmod(int(two.argmax()), 26)
    region_score = (float(one[region_one]), float(two[region_two]))
    # Sections: region r in 1..2, digits d in 1..4, suffix s = n - r - d in 0..3.
    # prefix sums (Python floats: a handful of numbers, where numpy's per-call cost would dominate)
    cl = [0.0, *np.cumsum(ll).tolist()]
    cd = [0.0, *np.cumsum(ld).tolist()]
    no_break = 0.0
    cut_gain: list[float] = []  # log p(break) - log p(no break), per gap
    if breaks is not None and len(breaks) == n - 1:
        bp = np.minimum(np.maximum(np.asarray(breaks, np.float64), 0.02), 0.98)
        lb, lnb = np.log(bp), np.log(1 - bp)
        no_break = float(lnb.sum())
        cut_gain = (lb - lnb).tolist()
    best: tuple[float, int, int] | None = None
    for r in (1, 2):
        for d in range(1, 5):
            s = n - r - d
            if not 0 <= s <= 3:
                continue
            # (a tiny preference for a longer number makes ties, e.g. "A10" / "A1O", deterministic)
            score = region_score[r - 1] + (cd[r + d] - cd[r]) + (cl[n] - cl[r + d]) + 1e-6 * d
            if best_d[r] == 0:  # the number is 1-9999: it never starts with 0 (so "AO 1000", not "A 0100 O")
                score += _LEADING_ZERO
            if cut_gain:
                score += no_break + cut_gain[r - 1] + (cut_gain[r + d - 1] if s > 0 else 0.0)
            if best is None or score > best[0]:
                best = (score, r, d)
    if best is None:
        return Decoded(None, 0.0, [])
    _, r, d = best
    region = (region_one,) if r == 1 else region_two
    chars: list[str] = []
    cps: list[float] = []
    for i in range(n):
        if i < r:
            chars.append(LETTERS[region[i]])
            cps.append(float(min(1.0, math.exp((lr0, lr1)[i][region[i]]))))
        elif i < r + d:
            chars.append(DIGITS[best_d[i]])
            cps.append(float(min(1.0, math.exp(ld[i]))))
        else:
            chars.append(LETTERS[best_l[i]])
            cps.append(float(min(1.0, math.exp(ll[i]))))
    conf = float(np.prod(cps))
    if "".join(chars[:r]) not in ID_REGION_CODES:
        conf *= _UNKNOWN_REGION
    return Decoded("".join(chars), conf, cps)
