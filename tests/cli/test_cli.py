"""The `lajur` command as users and scripts call it (interfaces.md): real subprocesses."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from simulators.plate_render import render_plate
from tests.fixtures.plate_models import site_models_dir, write_untrusting_calibration

ROOT = Path(__file__).resolve().parents[2]


def lajur(*args: str, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path | None = None):
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, cwd=cwd or ROOT)


@pytest.mark.parametrize("args", [
    [], ["demo"], ["serve"], ["sim"], ["sim", "site"], ["plate"], ["plate", "read"], ["bench"], ["bench", "lane"],
    ["bench", "load"], ["bench", "vision"], ["bench", "binding"], ["bench", "frames"], ["db"], ["db", "upgrade"], ["user"], ["user", "add"], ["sim", "gate"],
    ["broker"], ["broker", "config"],
])
def test_help_everywhere(args):
    r = lajur(*args, "--help")
    assert r.returncode == 0, r.stderr
    assert "usage:" in r.stdout


def test_python_dash_m_lane_is_the_same_command():
    r = subprocess.run([sys.executable, "-m", "lane", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "demo" in r.stdout


def test_bad_configuration_is_one_clear_line_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[timing.budgets]\nparking = 3\n")
    r = lajur("serve", "--config", str(bad))
    assert r.returncode == 2
    assert "unknown stage" in r.stderr and "Traceback" not in r.stderr
    r = lajur("serve", "--config", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and "not found" in r.stderr and "Traceback" not in r.stderr


def test_unknown_command_is_a_usage_error():
    r = lajur("fly")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_db_upgrade_creates_the_schema(tmp_path):
    r = lajur("db", "upgrade", "--url", f"sqlite:///{tmp_path}/x.db")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "x.db").exists()


def test_demo_six_drivers_at_120x_ends_within_a_minute_with_a_json_summary(tmp_path):
    """On the demo's own broker, under the accounts and ACL `lajur broker config` writes. Meanwhile the
    watch line it prints works for the read-only technician, who sees the lane's health and no card data."""
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k != "LAJUR_MQTT_URL"}
    demo = subprocess.Popen([sys.executable, "-m", "cli.main", "demo", "--drivers", "6", "--speed", "120",
                             "--exit-when-done", "--json", "--port", "0", "--broker-port", "0"],
                            cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    said: list[str] = []
    try:
        assert demo.stderr is not None
        while not (said and said[-1].startswith("watch MQTT")):
            line = demo.stderr.readline()
            assert line, "".join(said)[-3000:]
            said.append(line)
        watch = said[-1].split(": ", 1)[1].strip()
        secret = (tmp_path / "var/demo-broker/credentials/mpp-batang.technician").read_text().strip()
        assert "-u mpp-batang.technician" in watch and secret not in watch
        if shutil.which("mosquitto_sub"):
            seen = subprocess.run(["bash", "-c", f"{watch} -W 5"], capture_output=True, text=True, timeout=30,
                                  cwd=tmp_path)
            topics = set(re.findall(r"^(lajur/\S+)", seen.stdout, re.M))
            assert "lajur/mpp-batang/lane-1/payment/availability" in topics, seen.stderr
            assert any(t.endswith("/state") for t in topics)
            assert not [t for t in topics if t.endswith(("/event", "/cmd", "/ack"))]
        out, err = demo.communicate(timeout=90)
    finally:
        if demo.poll() is None:
            demo.kill()
    wall = time.monotonic() - started
    assert demo.returncode == 0, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert wall < 60
    assert len(summary["visits"]) == 6
    for v in summary["visits"]:
        assert v["outcome"] in ("completed", "refused")
        if v["outcome"] == "refused":
            assert v["reason"]
        assert v["seconds"] > 0 and v["plate"]
        assert set(v["stages"]) >= {"queued", "arriving", "verifying", "exiting"}
        assert all(s >= 0 for s in v["stages"].values())
        # the visit's own clock runs from the entry; the wait before it is counted apart
        assert v["queued_seconds"] == v["stages"]["queued"]
        assert abs(v["seconds"] - sum(s for k, s in v["stages"].items() if k != "queued")) < 1
    arriving = sorted(v["stages"]["arriving"] for v in summary["visits"])
    assert arriving[len(arriving) // 2] <= 30, "the arriving stage no longer counts the wait for window 1"
    assert any(v["outcome"] == "refused" for v in summary["visits"])
    assert summary["throughput_per_hour"] > 0 and summary["p95_seconds"] > 0
    assert summary["p95_door_to_door_seconds"] >= summary["p95_seconds"]
    assert summary["alerts_raised"] == sum(summary["alerts_by_kind"].values())
    assert "console" in "".join(said).lower()


@pytest.mark.parametrize("args,fragment", [
    (["serve", "--config", "/etc"], "Is a directory"),
    (["serve", "--config", "/dev/null"], "no lanes configured"),
    (["db", "upgrade", "--url", "garbage://x"], "migration failed"),
    (["plate", "read", "/nonexistent.jpg"], "no such file"),
    (["plate", "read", str(ROOT / "pyproject.toml")], "not a readable image"),
    (["sim", "gate", "--fault", "nonsense"], "invalid choice"),
    (["demo", "--speed", "-3"], "positive"),
    (["demo", "--speed", "nan"], "positive"),
    (["demo", "--lanes", "0"], "1 or more"),
    (["demo", "--drivers", "many"], "whole number"),
    (["sim", "site", "--lanes", "-1", "--out", "x"], "1 or more"),
])
def test_user_errors_exit_2_with_one_clear_message(args, fragment):
    r = lajur(*args, timeout=60)
    assert r.returncode == 2, (r.returncode, r.stderr[-500:])
    assert fragment in r.stderr and "Traceback" not in r.stderr + r.stdout


def test_serve_on_a_port_in_use_says_so_before_leasing_any_lane(tmp_path):
    import socket

    config = tmp_path / "lajur.toml"
    config.write_text("[[lanes]]\nname = 'lane-1'\n")
    db = tmp_path / "lajur.db"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = lajur("serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
                  env={"LAJUR_DATABASE_URL": f"sqlite:///{db}"}, timeout=60)
    assert r.returncode == 2, (r.returncode, r.stderr[-500:])
    assert f"127.0.0.1:{port}" in r.stderr and "in use" in r.stderr and "Traceback" not in r.stderr
    assert not db.exists(), "no lane may be leased under the name of a process that never served"
    # an address this machine does not have (TEST-NET-1): the same one clear line
    r = lajur("serve", "--config", str(config), "--host", "192.0.2.1", "--port", "8080",
              env={"LAJUR_DATABASE_URL": f"sqlite:///{db}"}, timeout=60)
    assert r.returncode == 2 and "cannot serve the console on 192.0.2.1:8080" in r.stderr, r.stderr[-500:]
    assert "Traceback" not in r.stderr and not db.exists()


def test_a_vision_engine_that_is_not_there_is_one_clear_line(tmp_path):
    """``LAJUR_VISION_ENGINE`` (what runs the plate networks) naming no engine stops every command that
    reads plates at once, with one line, before a lane is leased."""
    env = {"LAJUR_VISION_ENGINE": "tensorrt", "LAJUR_DATABASE_URL": f"sqlite:///{tmp_path / 'lajur.db'}"}
    config = tmp_path / "lajur.toml"
    config.write_text("mqtt_url = 'mqtt://127.0.0.1:9'\nregistry_url = 'http://127.0.0.1:9'\n"
                      "[[lanes]]\nname = 'lane-1'\n")
    for args in (["plate", "read", str(ROOT / "pyproject.toml")], ["bench", "vision", "--sets", "rendered"],
                 ["serve", "--config", str(config), "--port", "0"]):
        r = lajur(*args, env=env, timeout=60)
        assert r.returncode == 2, (args, r.returncode, r.stderr[-500:])
        assert "LAJUR_VISION_ENGINE='tensorrt'" in r.stderr and "Traceback" not in r.stderr, r.stderr[-500:]
    assert not (tmp_path / "lajur.db").exists()


def test_a_plate_models_directory_that_cannot_be_read_with_is_one_clear_line(tmp_path, mqtt_broker):
    """``LAJUR_PLATE_MODELS_DIR`` (the site's own learned files) that is missing, or replaces a network
    without bringing its calibration, stops every command that reads plates at once, before a lane is
    leased; a good one is what ``plate read`` reads with."""
    config = tmp_path / "lajur.toml"
    config.write_text("mqtt_url = 'mqtt://127.0.0.1:9'\nregistry_url = 'http://127.0.0.1:9'\n"
                      "[[lanes]]\nname = 'lane-1'\n")
    site = site_models_dir(tmp_path / "site-models", networks=("recognizer_id.npz",), calibration=False)
    image = tmp_path / "plate.png"
    cv2.imwrite(str(image), render_plate("AB 1234 CD", seed=3))
    db = tmp_path / "lajur.db"
    for directory, why in ((tmp_path / "nope", "not a directory"), (site, "no calibration.json")):
        env = {"LAJUR_PLATE_MODELS_DIR": str(directory), "LAJUR_DATABASE_URL": f"sqlite:///{db}"}
        for args in (["plate", "read", "--crop", str(image)], ["bench", "vision", "--sets", "rendered", "--n", "2"],
                     ["serve", "--config", str(config), "--port", "0"]):
            r = lajur(*args, env=env, timeout=60)
            assert r.returncode == 2, (args, r.returncode, r.stderr[-500:])
            assert str(directory) in r.stderr and why in r.stderr and "Traceback" not in r.stderr, r.stderr[-500:]
    assert not db.exists()

    # with a calibration of its own (here one that trusts nothing) the site's files are read
    write_untrusting_calibration(site)
    shipped = json.loads(lajur("plate", "read", "--crop", str(image), timeout=60).stdout)
    own = json.loads(lajur("plate", "read", "--crop", str(image), env={"LAJUR_PLATE_MODELS_DIR": str(site)},
                           timeout=60).stdout)
    assert shipped["plate"] == own["plate"] == "AB1234CD"
    assert shipped["confidence"] > 0.5 and own["confidence"] < 0.05
    # and a lane started with it says so, so a technician sees which files it reads with
    r = lajur("demo", "--drivers", "1", "--speed", "120", "--exit-when-done", "--port", "0",
              env={"LAJUR_MQTT_URL": mqtt_broker.url, "LAJUR_PLATE_MODELS_DIR": str(site)}, cwd=tmp_path, timeout=90)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"plate reader: the site's own files from {site}: recognizer_id.npz, calibration.json" in r.stdout


def test_the_demo_keeps_its_database_unless_told_to_start_fresh_and_says_which(tmp_path, monkeypatch):
    from cli.run import DEMO_DB, demo_database
    from lane.settings import load_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LAJUR_DATABASE_URL", raising=False)
    settings, said = demo_database(load_settings(), fresh=False)
    assert settings.database_url == f"sqlite:///{DEMO_DB}" and said.endswith("new")
    DEMO_DB.parent.mkdir(parents=True)
    DEMO_DB.write_bytes(b"the last demo's visits")
    settings, said = demo_database(load_settings(), fresh=False)
    assert "kept from the last demo" in said and "--fresh" in said
    assert DEMO_DB.read_bytes() == b"the last demo's visits"
    settings, said = demo_database(load_settings(), fresh=True)
    assert "started fresh" in said and not DEMO_DB.exists()
    monkeypatch.setenv("LAJUR_DATABASE_URL", "postgresql+psycopg://lajur:secret@db/lajur")
    settings, said = demo_database(load_settings(), fresh=True)
    assert "from the settings" in said and "secret" not in said
