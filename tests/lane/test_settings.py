import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lane.errors import ConfigError
from lane.settings import load_settings


def test_defaults_are_the_published_rules():
    s = load_settings()
    assert s.rules.fees["A"] == 80_000 and s.rules.fees["C"] == 75_000
    # the lane's stages add up to the ten-minute promise; the wait before the entry has its own budget
    assert sum(v for k, v in s.timing.budgets.items() if k != "queued") == s.timing.visit_budget == 600
    assert s.timing.budgets["queued"] == 300


def test_toml_file_and_environment(tmp_path, monkeypatch):
    f = tmp_path / "lajur.toml"
    f.write_text('site = "mpp-sragen"\n[rules]\nfees = {A = 80000, C = 76000}\n[timing.budgets]\npaying = 100\n'
                 '[[lanes]]\nname = "lane-2"\n[lanes.devices.entry-gate]\ntransport = "serial"\nport = "loop://"\n')
    monkeypatch.setenv("LAJUR_DATABASE_URL", "sqlite:///x.db")
    s = load_settings(f)
    assert s.site == "mpp-sragen" and s.rules.fees["C"] == 76000
    assert s.timing.budgets["paying"] == 100 and s.timing.budgets["arriving"] == 30
    assert s.database_url == "sqlite:///x.db"
    assert s.lanes[0].devices["entry-gate"].port == "loop://"
    monkeypatch.setenv("LAJUR_SITE", "from-env")
    assert load_settings(f).site == "from-env"


@pytest.mark.parametrize("content,fragment", [
    ("site = ", "not valid TOML"),
    ("[timing.budgets]\nteleporting = 3\n", "unknown stage"),
    ("[rules]\nclasses_served = ['Z']\n", "unknown SIM class"),
    ("bogus = 1\n", "bogus"),
    ("[[lanes]]\nname = 'left'\n", "lane-1"),
])
def test_bad_configuration_is_a_clear_message(tmp_path, content, fragment):
    f = tmp_path / "bad.toml"
    f.write_text(content)
    with pytest.raises(ConfigError) as exc:
        load_settings(f)
    assert fragment in str(exc.value) and str(f) in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


KEYS = ["site", "database_url", "speed", "port", "plate_format", "gate_poll_interval", "[timing]",
        "[timing.budgets]", "arriving", "visit_budget", "[rules]", "fees", "classes_served", "[[lanes]]", "name",
        "[lanes.devices.payment]", "transport", "bogus"]
VALUES = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True), st.text(max_size=12).map(repr),
                   st.sampled_from(['"A"', "[]", '["A", "Z"]', "{A = 1}", '"lane-1"', '"mqtt"', "true", "=", "[["]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.tuples(st.sampled_from(KEYS), VALUES), max_size=8), junk=st.binary(max_size=20))
def test_any_configuration_file_loads_or_fails_with_a_config_error(tmp_path, lines, junk):
    text = "\n".join(k if k.startswith("[") else f"{k} = {v}" for k, v in lines)
    f = tmp_path / "fuzz.toml"
    f.write_bytes(text.encode() + (junk if len(lines) % 2 else b""))
    try:
        load_settings(f)
    except ConfigError as exc:
        assert str(f) in str(exc)


def test_a_plate_is_bound_without_an_officer_only_when_the_reader_is_confident(tmp_path):
    """The default is the reader's own "confident" (0.9, where its calibration puts about 9 in 10 right
    and the held-out photographs were all right); a threshold outside 0..1 is a clear error."""
    assert load_settings().timing.plate_min_confidence == 0.9
    f = tmp_path / "lajur.toml"
    f.write_text("[timing]\nplate_min_confidence = 1.5\n")
    with pytest.raises(ConfigError, match="plate_min_confidence"):
        load_settings(f)


def test_officer_labelled_plate_crops_are_kept_only_where_the_site_says(tmp_path, monkeypatch):
    assert load_settings().plate_samples_dir is None
    monkeypatch.setenv("LAJUR_PLATE_SAMPLES_DIR", str(tmp_path / "samples"))
    assert load_settings().plate_samples_dir == tmp_path / "samples"


def test_the_plate_readers_own_files_are_the_shipped_ones_unless_the_site_names_a_directory(tmp_path, monkeypatch):
    from vision.models import MODELS_DIR_ENV

    assert load_settings().plate_models_dir is None
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path / "site-models"))
    assert load_settings().plate_models_dir == tmp_path / "site-models"


def test_site_wide_settings_come_from_the_one_settings_object(monkeypatch):
    """The lease, the session key, the site's time zone and the demo password are settings like the rest
    (environment variables with the LAJUR_ prefix, or the file), not variables read aside."""
    monkeypatch.setenv("LAJUR_LEASE_SECONDS", "60")
    monkeypatch.setenv("LAJUR_SECRET_KEY", "s3cret")
    monkeypatch.setenv("LAJUR_TIMEZONE", "Asia/Makassar")
    s = load_settings()
    assert s.lease_seconds == 60 and s.timezone == "Asia/Makassar"
    assert s.secret_key is not None and s.secret_key.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s)  # a secret never shows in a log line of the settings
    monkeypatch.setenv("LAJUR_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ConfigError, match="time zone"):
        load_settings()


def test_human_step_timeouts_are_settings_with_known_steps_only(tmp_path):
    f = tmp_path / "lajur.toml"
    f.write_text("[timing.human_timeouts]\npayment = 300\n")
    s = load_settings(f)
    assert s.timing.human_timeouts == {"card_reader": 600.0, "payment": 300.0, "biometric": 600.0}
    f.write_text("[timing.human_timeouts]\ncoffee = 30\n")
    with pytest.raises(ConfigError, match="coffee"):
        load_settings(f)


def test_no_setting_is_read_from_the_environment_aside(monkeypatch):
    """Every setting comes through the one settings object: the plate networks' engine and the virtual
    officers' account too. Outside lane/settings.py no module reads a LAJUR_ variable, except the
    documented inputs that are not settings of a site (a script's password for ``lajur user add``, the
    training tool's font directory)."""
    import re
    from pathlib import Path

    monkeypatch.setenv("LAJUR_VISION_ENGINE", "opencv")
    monkeypatch.setenv("LAJUR_SIM_OFFICER_USER", "rina")
    monkeypatch.setenv("LAJUR_SIM_OFFICER_PASSWORD", "pw-123456")
    s = load_settings()
    assert s.vision_engine == "opencv" and s.sim_officer_user == "rina"
    assert s.sim_officer_password is not None and s.sim_officer_password.get_secret_value() == "pw-123456"
    root = Path(__file__).resolve().parents[2]
    aside = {"api/accounts_cli.py": {"LAJUR_PASSWORD"}, "vision/train.py": {"LAJUR_TRAIN_FONTS"}}
    read = re.compile(r"""(?:environ(?:\.get)?\s*[\[(]|getenv\s*\()\s*["'](LAJUR_\w+)""")
    found: dict[str, set[str]] = {}
    for package in ("lane", "api", "cli", "devices", "simulators", "vision", "bench"):
        for path in (root / package).rglob("*.py"):
            names = set(read.findall(path.read_text(encoding="utf-8")))
            if names:
                found[str(path.relative_to(root))] = names
    assert found == aside
