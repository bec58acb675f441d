"""The systemd units in deploy/systemd: valid for systemd (``systemd-analyze verify``, where installed),
and every ``lajur`` command line they run is one the ``lajur`` command accepts, so a renamed option
cannot leave a site's units broken."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
INSTALLED_LAJUR = "/opt/lajur/venv/bin/lajur"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(_text(name))
    return parser


def _text(name: str) -> str:
    return (UNITS / name).read_text(encoding="utf-8")


def test_the_units_are_valid_for_systemd(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed")
    lajur = Path(sys.executable).with_name("lajur")
    for unit in UNITS.iterdir():  # the installed path replaced by this checkout's, which exists here
        (tmp_path / unit.name).write_text(unit.read_text(encoding="utf-8").replace(INSTALLED_LAJUR, str(lajur)))
    (tmp_path / "lajur@8080.service").write_text((tmp_path / "lajur@.service").read_text())
    names = ["lajur@8080.service", "lajur-broker.service", "lajur-backup.service", "lajur-backup.timer"]
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", *names], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr


@pytest.mark.parametrize("unit", ["lajur@.service", "lajur-backup.service"])
def test_the_lajur_command_lines_of_the_units_are_accepted(unit):
    exec_start = _unit(unit)["Service"]["ExecStart"]
    argv = shlex.split(exec_start.replace("%i", "8080"))
    assert argv[0] == INSTALLED_LAJUR
    args = build_parser().parse_args(argv[1:])  # SystemExit (exit 2) on an unknown option
    assert args.config == "/etc/lajur/lajur.toml"


def test_the_broker_runs_the_configuration_lajur_broker_config_installs():
    service = _unit("lajur-broker.service")
    assert service["Service"]["ExecStart"] == "/usr/sbin/mosquitto -c /etc/mosquitto/lajur/mosquitto.conf"
    assert service["Unit"]["Conflicts"] == "mosquitto.service"
    controller = _unit("lajur@.service")
    assert "lajur-broker.service" in controller["Unit"]["After"]
    assert _unit("lajur-backup.timer")["Timer"]["Persistent"] == "true"
