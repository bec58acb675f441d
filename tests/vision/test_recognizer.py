import numpy as np
import pytest

import vision.recognizer as recognizer_mod
from simulators.plate_render import render_plate
from vision.grammar import CLASS_INDEX, CLASSES
from vision.reader import PlateReader, _column_breaks
from vision.recognizer import (
    ID_MODEL_PATH,
    IN_H,
    IN_W,
    MODEL_PATH,
    Recognizer,
    ctc_align,
    ctc_log_likelihood,
    decode,
    get_recognizer,
    model_path,
    preprocess,
)


def _columns(seq: str) -> np.ndarray:
    """Column probabilities for a path like "-AA-1-" ("-" = blank), 0.9 on the path."""
    p = np.full((len(seq), len(CLASSES) + 1), 0.1 / len(CLASSES))
    for t, ch in enumerate(seq):
        p[t, 0 if ch == "-" else CLASS_INDEX[ch] + 1] = 0.9
    return p


def test_model_is_shipped_and_small():
    for path in (MODEL_PATH, ID_MODEL_PATH):
        assert path.is_file()
        assert path.stat().st_size < 3 * 1024 * 1024


def test_each_format_reads_with_its_own_network():
    """Indonesian plates (the lane's) have their own recogniser; any other format reads with the common one."""
    assert model_path("id") == ID_MODEL_PATH and model_path("generic") == MODEL_PATH
    assert get_recognizer("id").path == ID_MODEL_PATH
    assert get_recognizer("generic").path == MODEL_PATH
    assert get_recognizer() is get_recognizer("id")
    assert PlateReader("generic")._recognizer() is get_recognizer("generic")
    assert PlateReader("id")._recognizer() is get_recognizer("id")


def test_without_its_own_file_the_id_format_reads_with_the_common_network(tmp_path, monkeypatch):
    monkeypatch.setattr(recognizer_mod, "ID_MODEL_PATH", tmp_path / "recognizer_id.npz")
    monkeypatch.setattr(recognizer_mod, "_INSTANCES", {})
    assert recognizer_mod.model_path("id") == MODEL_PATH
    assert recognizer_mod.get_recognizer("id") is recognizer_mod.get_recognizer("generic")  # loaded once


@pytest.mark.parametrize("path", [MODEL_PATH, ID_MODEL_PATH], ids=["common", "id"])
def test_shipped_onnx_runs_the_same_network_as_the_numpy_weights(path):
    """Each ``.onnx`` (cv2.dnn, the fast path) must be the same network as the ``.npz`` beside it: a model
    retrained without rewriting it would read with stale weights."""
    fast, ref = Recognizer(path), Recognizer(path, use_dnn=False)
    assert fast.uses_dnn and not ref.uses_dnn
    x = np.stack([preprocess(render_plate(t, style=s)[:, :, 0])
                  for t, s in (("AD 1234 XY", "white"), ("B 9140 BCD", "black"), ("H 7 A", "white"))])
    x = np.concatenate([x, np.random.default_rng(3).normal(size=(2, IN_H, IN_W)).astype(np.float32)])
    assert np.abs(fast.probs(x) - ref.probs(x)).max() < 1e-4
    assert np.abs(fast.probs(x[:1]) - ref.probs(x[:1])).max() < 1e-4  # batch of one


def test_preprocess_shape_and_scale():
    g = np.random.default_rng(0).integers(0, 255, (60, 300)).astype(np.uint8)
    x = preprocess(g)
    assert x.shape == (IN_H, IN_W) and x.dtype == np.float32
    assert abs(float(x.mean())) < 1e-3
    assert preprocess(np.full((20, 50), 77, np.uint8)).max() == 0  # flat image: no division blow-up


def test_forward_gives_column_distributions():
    rec = get_recognizer()
    x = np.stack([preprocess(render_plate("AD 1234 XY")[:, :, 0])] * 2)
    p = rec.probs(x)
    assert p.shape == (2, IN_W // 4, len(CLASSES) + 1)
    assert np.allclose(p.sum(axis=2), 1.0, atol=1e-5)
    assert np.allclose(p[0], p[1])


def test_greedy_ctc_merges_repeats_and_drops_blanks():
    r = decode(_columns("-AA-A-11--2-"))
    assert r.text == "AA12"
    assert r.char_probs.shape == (4, len(CLASSES))
    assert np.allclose(r.char_probs.sum(axis=1), 1.0)
    assert r.gap_conf == pytest.approx(0.9)
    assert decode(_columns("----")).text == ""


def _with(p: np.ndarray, t: int, **probs: float) -> np.ndarray:
    """Column ``t`` of ``p`` set to the given probabilities (``blank=``, or a class name), the rest spread."""
    p = p.copy()
    p[t] = 0.0
    for name, v in probs.items():
        p[t, 0 if name == "blank" else CLASS_INDEX[name] + 1] = v
    rest = 1.0 - p[t].sum()
    p[t][p[t] == 0] = rest / int((p[t] == 0).sum())
    return p


def _label(text: str) -> list[int]:
    return [CLASS_INDEX[c] + 1 for c in text]


def test_ctc_likelihood_is_the_sum_over_every_path():
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(4), size=5)  # 5 columns, blank + 3 classes
    import itertools

    def collapse(path):
        out, prev = [], 0
        for k in path:
            if k != 0 and k != prev:
                out.append(k)
            prev = k
        return out

    for label in ([1], [1, 1], [1, 2], [2, 2, 3]):
        brute = sum(np.prod([p[t, k] for t, k in enumerate(path)])
                    for path in itertools.product(range(4), repeat=5) if collapse(path) == label)
        assert ctc_log_likelihood(p, label) == pytest.approx(np.log(brute), rel=1e-9)


def test_a_second_equal_character_lost_to_the_blank_is_read():
    # "CWW2": in the second W's two columns the blank is a little ahead of it, so the best path reads "CW2";
    # but the paths that read a second W (in either column or both) are together likelier than the blanks
    p = _with(_with(_columns("-C--W----2--"), 6, blank=0.47, W=0.41), 7, blank=0.55, W=0.40)
    assert [CLASSES[k - 1] if k else "-" for k in p.argmax(axis=1)] == list("-C--W----2--")
    r = decode(p)
    assert r.text == "CWW2"
    assert r.columns == [1, 4, 6, 9]
    assert r.char_conf[2] == pytest.approx(0.41)
    assert r.gap_conf == pytest.approx(0.55)  # the weak blank beside it lowers the reading's confidence
    cols, blanks = ctc_align(p, _label("CWW2"))
    assert cols == [1, 4, 6, 9] and 5 in blanks and 7 in blanks
    assert ctc_log_likelihood(p, _label("CWW2")) > ctc_log_likelihood(p, _label("CW2"))


def test_two_merged_peaks_with_a_blank_between_are_two_characters():
    p = _columns("-A-5556-")  # one wide 5 ...
    p = _with(p, 4, blank=0.6, **{"5": 0.35})  # ... or two, parted by a likely blank
    assert decode(p).text == "A556"
    assert decode(_columns("-A-5556-")).text == "A56"  # no blank inside the run: one character


def test_a_weak_repeat_is_not_added_and_nothing_is_added_at_the_ends():
    assert decode(_with(_columns("-C--W---2--"), 6, blank=0.8, W=0.15)).text == "CW2"  # too weak
    assert decode(_with(_columns("-C--W---2--"), 10, blank=0.5, **{"2": 0.45})).text == "CW2"  # end


@pytest.mark.parametrize("text,style", [("AD 1234 XY", "black"), ("B 9140 BCD", "white"), ("H 12 A", "white")])
def test_reads_rendered_plate_crops(text, style):
    r = PlateReader("id").read_crop(render_plate(text, style=style, seed=3))
    assert r.plate == text.replace(" ", "")
    assert r.confidence > 0.5


def test_column_breaks_mark_wide_steps():
    b = _column_breaks([2, 6, 13, 16, 19, 22, 29, 32])
    assert b[1] > 0.6 and b[5] > 0.6 and b[0] < 0.5 and b[3] < 0.5
    assert _column_breaks([4]) is None


@pytest.mark.parametrize("channels,seq", [(None, None), ((8, 16, 24, 32, 40), 48)])
def test_export_matches_torch(tmp_path, channels, seq):
    """The exported file, numpy and cv2.dnn alike, is the trained network; for other widths too
    (``--channels``/``--seq`` of the training script): the runtime takes the widths from the file."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from vision.recognizer import CHANNELS, SEQ
    from vision.train_recognizer import build_model, export, export_onnx, export_widths

    torch.manual_seed(0)
    model = build_model(channels, seq)
    with torch.no_grad():  # non-trivial batch-norm statistics
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
    model.eval()
    path = tmp_path / "r.npz"
    export(model, path)
    x = np.random.default_rng(1).normal(size=(3, IN_H, IN_W)).astype(np.float32)
    with torch.no_grad():
        ref = torch.softmax(model(torch.from_numpy(x[:, None])), 2).numpy()
    assert np.abs(Recognizer(path, use_dnn=False).probs(x) - ref).max() < 1e-4
    assert export_widths(path) == (channels or CHANNELS, seq or SEQ)  # what --init-export rebuilds
    export_onnx(path)
    fast = Recognizer(path)
    assert fast.uses_dnn
    assert np.abs(fast.probs(x) - ref).max() < 1e-4


def test_fine_tuning_starts_from_the_exported_model(tmp_path):
    """``--init-export``: a model rebuilt from the shipped (folded) file reads exactly as the file does,
    in evaluation and, on the batch it was set up with, in training mode too."""
    torch = pytest.importorskip("torch")
    from vision.recognizer import MODEL_PATH
    from vision.train_recognizer import build_model, init_from_export

    torch.manual_seed(0)
    x = np.random.default_rng(2).normal(size=(8, IN_H, IN_W)).astype(np.float32)
    model = build_model()
    init_from_export(model, MODEL_PATH, torch.from_numpy(x[:, None]))
    ref = Recognizer(MODEL_PATH).probs(x)
    with torch.no_grad():
        model.eval()
        got_eval = torch.softmax(model(torch.from_numpy(x[:, None])), 2).numpy()
        model.train()
        model.drop.p = 0.0
        got_train = torch.softmax(model(torch.from_numpy(x[:, None])), 2).numpy()
    assert np.abs(got_eval - ref).max() < 1e-4
    assert np.abs(got_train - ref).max() < 1e-3
