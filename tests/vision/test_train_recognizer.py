"""The recogniser's training data: respelt real plates (``RealDev.respell``) show the label they are given."""

import cv2
import numpy as np

from simulators.plate_render import render_plate
from vision.grammar import normalise
from vision.recognizer import get_recognizer
from vision.train_recognizer import RealDev, harvest_segments

PLATES = [("B 1234 XY", "white"), ("AD 5678 KM", "black"), ("H 9012 TU", "white"), ("L 3456 AB", "black")]


def _item(text: str, style: str, seed: int):
    plate = cv2.cvtColor(render_plate(text, style=style, seed=seed), cv2.COLOR_BGR2GRAY)
    h, w = plate.shape
    m = (w // 6, h // 3)
    g = cv2.copyMakeBorder(plate, m[1], m[1], m[0], m[0], cv2.BORDER_REPLICATE)
    return g, (m[0], m[1], w, h), normalise(text), "id"


def test_harvest_finds_each_character_left_to_right():
    g, box, label, kind = _item("B 1234 XY", "white", 1)
    found = harvest_segments(g, box, label, kind)
    assert found is not None
    segs, light = found
    assert len(segs) == len(label) and light is False  # dark characters on a white plate
    assert all(a[1] <= b[0] for a, b in zip(segs, segs[1:], strict=False))  # separate, in order
    assert all(box[0] - 1 <= s[0] < s[1] <= box[0] + box[2] + 1 for s in segs)


def test_harvest_refuses_a_label_of_another_length():
    g, box, _, kind = _item("B 1234 XY", "white", 1)
    assert harvest_segments(g, box, "B1234X", kind) is None


def test_respelt_plates_read_as_their_new_label():
    real = RealDev(None, respell_share=1.0, items=[_item(t, s, k) for k, (t, s) in enumerate(PLATES)])
    assert len(real.respellable) >= len(PLATES) - 1  # the segmenting reader may miss one
    rec = get_recognizer()
    rng = np.random.default_rng(5)
    right = total = 0
    changed = 0
    for _ in range(24):
        i = real.respellable[int(rng.integers(0, len(real.respellable)))]
        g, (x, y, w, h), label = real.respell(i, rng)
        old = real.items[i][2]
        assert len(label) == len(old)
        # letters stay letters and digits stay digits: the respelt plate still fits the grammar
        assert [c.isdigit() for c in label] == [c.isdigit() for c in old]
        assert g.shape[0] == real.items[i][0].shape[0]
        crop = g[int(y):int(y + h), int(x):int(x + w)]
        total += 1
        right += rec.recognise([crop])[0].text.replace("O", "0") == label.replace("O", "0")
        changed += label != old
    assert changed >= total // 2
    assert right >= total - 2, f"{right} of {total} respelt plates read as their label"


def test_no_respelling_when_not_asked():
    real = RealDev(None, respell_share=0.0, items=[_item(*PLATES[0], 0)])
    assert real.respellable == []
    rng = np.random.default_rng(0)
    _, label = real.sample(rng)
    assert label == normalise(PLATES[0][0])


def test_strong_augmentation_keeps_the_plate_readable():
    # lower resolution, more blur and swapped colours change the look, never the label or the plate's legibility
    items = [_item(t, s, k) for k, (t, s) in enumerate(PLATES)]
    mild, strong = RealDev(None, items=items), RealDev(None, items=items, strong_aug=True)
    rec = get_recognizer()
    rng_m, rng_s = np.random.default_rng(9), np.random.default_rng(9)
    widths = {"mild": [], "strong": []}
    right = 0
    for _ in range(40):
        gm, _ = mild.sample(rng_m)
        gs, label = strong.sample(rng_s)
        assert gs.dtype == np.uint8 and gs.ndim == 2
        widths["mild"].append(gm.shape[1])
        widths["strong"].append(gs.shape[1])
        right += rec.recognise([gs])[0].text.replace("O", "0") == label.replace("O", "0")
    assert np.mean(widths["strong"]) < np.mean(widths["mild"])  # seen at lower resolution on average
    assert right >= 28, f"{right} of 40 strongly augmented plates still read as their label"


def test_slashed_o_is_the_zero_with_a_bar_inside_its_oval():
    """Newer Indonesian plates draw the letter O as a slashed zero; the synthetic plates must too."""
    from vision.train_recognizer import slashed_o

    zero = np.zeros((96, 60), np.uint8)
    cv2.ellipse(zero, (30, 48), (26, 44), 0, 0, 360, 255, 9)
    o = slashed_o(zero)
    assert o.shape == zero.shape and o.dtype == zero.dtype
    assert (o >= zero).all()  # the zero itself is untouched
    added = (o > 127) & (zero <= 127)
    assert added[30:66, 18:42].sum() > 0.5 * added.sum()  # the bar crosses the middle of the oval
    outside = np.ones_like(zero, bool)
    cv2.ellipse(outside.view(np.uint8), (30, 48), (30, 48), 0, 0, 360, 0, -1)
    assert not added[outside].any()  # and stays inside it
    # lower left to upper right
    assert added[60:85, 5:30].sum() > 10 * added[60:85, 30:55].sum()


def test_synthetic_indonesian_plates_draw_only_the_letter_o_slashed():
    import vision.train_recognizer as tr

    synth = tr.Synth(np.random.default_rng(5))

    def line(groups, slash):
        synth.rng = np.random.default_rng(1)  # the same spacing every time
        return synth._line(groups, 40, 0, 1.0, 0.1, 0.5, 0.0, slash_o=slash)

    slashed, zero = line(["B", "10", "O"], True), line(["B", "10", "0"], False)
    assert slashed.shape == zero.shape  # the slashed O is the font's zero...
    diff = np.nonzero(np.abs(slashed - zero).max(axis=0) > 0.2)[0]
    # ...with a bar added to the last glyph only: the digit 0 of the number stays plain
    assert diff.size and diff.min() > line(["B", "10"], True).shape[1] - 4
    assert (slashed >= zero - 1e-6).all()


def test_the_crops_a_lane_kept_are_trained_on_only_their_dev_split(tmp_path):
    """``--samples DIR``: the site's labelled crops join the real training plates, the test side never
    (it is what ``lajur bench vision --samples`` reports) and neither does the calibration fold."""
    from datetime import UTC, datetime

    from lane.plate_samples import PlateSamples
    from vision.calibrate import calibration_fold
    from vision.datasets import labelled_crops

    store = PlateSamples(tmp_path)
    for i in range(24):
        ok, jpg = cv2.imencode(".jpg", render_plate(f"H {1000 + i} AB", seed=i))
        store.record(f"lane-1-20261202-{i:04d}", jpg.tobytes(), f"H{1000 + i}AB", read=None, confidence=0.0,
                     kind="typed", at=datetime(2026, 12, 2, tzinfo=UTC))
    real = RealDev(None, samples=tmp_path)
    want = {s.plate for s in labelled_crops(tmp_path, "dev") if not calibration_fold(s.path.name)}
    assert want and {label for _, _, label, _ in real.items} == want
    assert all(kind == "id" for *_, kind in real.items)
    test_side = {s.plate for s in labelled_crops(tmp_path, "test")}
    assert test_side and not test_side & want
