"""`lajur broker config` writes a site's Mosquitto configuration, password file and ACL from the TOML
`lajur serve` reads, and the real Mosquitto runs them: strangers are refused, each account gets in
with its own secret (over TLS with the site's CA and client certificates where configured). The demo's
watch line for the read-only technician is tried in test_cli.py's demo test."""

from __future__ import annotations

import getpass
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from cli.broker import controller_client
from cli.compose import Site
from cli.main import main
from devices.mqtt_broker import BrokerFiles
from devices.mqtt_secrets import CredentialsDir
from lane.clock import SystemClock
from lane.errors import ConfigError
from lane.settings import load_settings
from simulators.broker import MosquittoBroker, mosquitto_binary
from simulators.ports import free_port
from tests.fixtures.mqtt import connack

needs_mosquitto = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
ROOT = Path(__file__).resolve().parents[2]


def site_toml(tmp_path: Path, url: str, extra: str = "") -> Path:
    path = tmp_path / "lajur.toml"
    path.write_text(f"""site = "mpp-batang"
mqtt_url = "{url}"
registry_url = "http://127.0.0.1:9"

[mqtt]
credentials_dir = "{tmp_path / 'secrets'}"
{extra}
[[lanes]]
name = "lane-1"

[lanes.devices."entry-gate"]
transport = "serial"
port = "/dev/ttyUSB0"

[lanes.devices."payment"]
transport = "mqtt"

[lanes.devices."display-entry"]
transport = "mqtt"
""")
    return path


def generate(config: Path, out: Path, *more: str) -> int:
    return main(["broker", "config", "--config", str(config), "--out", str(out), *more])


def run_broker(out: Path, port: int) -> MosquittoBroker:
    """Mosquitto on the generated files. Started as root it would become user 'mosquitto', which cannot
    read our private files: a site chowns them to that user; here Mosquitto stays whoever we are."""
    config = out / "test.conf"
    config.write_text((out / "mosquitto.conf").read_text() + f"user {getpass.getuser()}\n"
                      f"persistence_location {out}/\n")
    broker = MosquittoBroker(mosquitto_binary() or "", BrokerFiles(config, out / "passwd", out / "acl"), "127.0.0.1",
                             port)
    broker.start_blocking()
    return broker


@needs_mosquitto
def test_the_generated_site_runs_on_mosquitto_and_lets_in_only_its_accounts(tmp_path, capsys):
    port = free_port()
    config, out = site_toml(tmp_path, f"mqtt://127.0.0.1:{port}"), tmp_path / "broker"
    assert generate(config, out) == 0
    said = capsys.readouterr().out
    secrets = CredentialsDir(tmp_path / "secrets")
    names = sorted(p.name for p in secrets.path.iterdir())
    assert names == ["mpp-batang.controller", "mpp-batang.lane-1.display-entry", "mpp-batang.lane-1.payment",
                     "mpp-batang.technician"]
    assert all(secrets.password(n) not in said for n in names) and "mpp-batang.lane-1.payment" in said
    assert stat.S_IMODE(secrets.path.stat().st_mode) == 0o700
    for name in ("mosquitto.conf", "passwd", "acl"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600
    conf = (out / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf and "use_username_as_clientid true" in conf
    assert f"listener {port}\n" in conf and "max_packet_size 66560" in conf
    assert "user mpp-batang.lane-1.payment\ntopic read lajur/mpp-batang/lane-1/payment/cmd\n" in (out / "acl").read_text()

    broker = run_broker(out, port)
    try:
        assert connack("127.0.0.1", port) == 5
        for name in names:
            assert connack("127.0.0.1", port, username=name, password=secrets.password(name)) == 0
            assert connack("127.0.0.1", port, username=name, password=secrets.password(name) + "x") == 5
        # A second run keeps every secret; --rotate changes one, which Mosquitto takes at a reload (SIGHUP).
        old = {n: secrets.password(n) for n in names}
        assert generate(config, out) == 0 and {n: secrets.password(n) for n in names} == old
        assert generate(config, out, "--rotate", "mpp-batang.lane-1.payment") == 0
        assert secrets.password("mpp-batang.lane-1.payment") != old["mpp-batang.lane-1.payment"]
        assert broker._proc is not None
        broker._proc.send_signal(1)
        deadline = time.monotonic() + 5
        while connack("127.0.0.1", port, username="mpp-batang.lane-1.payment",
                      password=old["mpp-batang.lane-1.payment"]) == 0:
            assert time.monotonic() < deadline, "the old secret still works after the reload"
            time.sleep(0.05)
        assert connack("127.0.0.1", port, username="mpp-batang.lane-1.payment",
                       password=secrets.password("mpp-batang.lane-1.payment")) == 0
        assert connack("127.0.0.1", port, username="mpp-batang.controller", password=old["mpp-batang.controller"]) == 0
    finally:
        broker.stop_blocking()
    assert generate(config, out, "--rotate", "mpp-batang.lane-9.payment") == 2
    assert "no such account" in capsys.readouterr().err


def test_a_site_without_a_credentials_directory_or_with_a_password_in_its_url_is_one_clear_line(tmp_path, capsys):
    config = tmp_path / "bare.toml"
    config.write_text('mqtt_url = "mqtt://127.0.0.1:1883"\n')
    assert generate(config, tmp_path / "out") == 2
    assert "credentials_dir" in capsys.readouterr().err
    config = site_toml(tmp_path, "mqtt://controller:hunter2@127.0.0.1:1883")
    assert generate(config, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "no user or password in the URL" in err and "hunter2" not in err


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _certificates(d: Path) -> None:
    """A site CA, the broker's certificate for 127.0.0.1 and a controller's client certificate."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=site-ca",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
    for name in ("broker", "controller"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
                 "-out", f"{name}.csr", cwd=d)
        (d / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=d)


@needs_mosquitto
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
async def test_mqtts_with_the_sites_ca_and_client_certificates(tmp_path):
    tls = tmp_path / "tls"
    tls.mkdir()
    _certificates(tls)
    port = free_port()
    config = site_toml(tmp_path, f"mqtts://127.0.0.1:{port}", f"""ca_file = "{tls / 'ca.crt'}"
cert_file = "{tls / 'controller.crt'}"
key_file = "{tls / 'controller.key'}"

[mqtt.broker_tls]
cert_file = "{tls / 'broker.crt'}"
key_file = "{tls / 'broker.key'}"
""")
    out = tmp_path / "broker"
    assert generate(config, out) == 0
    conf = (out / "mosquitto.conf").read_text()
    assert f"cafile {tls / 'ca.crt'}" in conf and "require_certificate true" in conf
    broker = run_broker(out, port)
    settings = load_settings(config)
    client = controller_client(settings, "tls-test")
    no_certificate = controller_client(settings.model_copy(update={"mqtt": settings.mqtt.model_copy(
        update={"cert_file": None, "key_file": None})}), "tls-test")
    try:
        await client.start()
        await client.wait_connected(10)  # TLS verified against the site's CA, client certificate, password
        await no_certificate.start()
        with pytest.raises(TimeoutError):
            await no_certificate.wait_connected(1.5)  # the password alone is not enough
    finally:
        await client.stop()
        await no_certificate.stop()
        broker.stop_blocking()


def test_the_example_site_configuration_writes_its_broker(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAJUR_MQTT__CREDENTIALS_DIR", str(tmp_path / "secrets"))
    assert generate(ROOT / "examples" / "lajur.toml", tmp_path / "out", "--install-dir", "/etc/mosquitto/lajur") == 0
    conf = (tmp_path / "out" / "mosquitto.conf").read_text()
    assert "listener 8883\n" in conf and "require_certificate true" in conf
    assert "password_file /etc/mosquitto/lajur/passwd\nacl_file /etc/mosquitto/lajur/acl\n" in conf
    assert "user mpp-batang.lane-1.card-reader\n" in (tmp_path / "out" / "acl").read_text()
    assert "mpp-batang.lane-1.card-reader" in capsys.readouterr().out


async def test_a_controller_whose_secret_the_broker_refuses_stops_at_once_with_one_clear_line(site_mqtt_broker,
                                                                                             tmp_path):
    """A broker that is down is waited for; one that refuses the controller's login is a setting to fix."""
    wrong = CredentialsDir(tmp_path / "stale")
    wrong.ensure(["test-site.controller"])  # a secret of its own, not the one the broker has
    devices = "\n".join(f'[lanes.devices."{name}"]\ntransport = "serial"\nport = "/dev/null"\n'
                        for name in ("entry-gate", "exit-gate", "receipt-printer", "card-printer"))
    devices += "\n".join(f'[lanes.devices."{name}"]\ntransport = "mqtt"\n'
                         for name in ("card-reader", "payment", "biometric"))
    config = tmp_path / "lajur.toml"
    config.write_text(f'site = "test-site"\nmqtt_url = "{site_mqtt_broker.url}"\nregistry_url = "http://127.0.0.1:9"\n'
                      f'database_url = "sqlite:///{tmp_path}/lajur.db"\n[mqtt]\ncredentials_dir = "{wrong.path}"\n'
                      f'[[lanes]]\nname = "lane-1"\n[lanes.devices."entry-camera"]\ntransport = "camera"\n'
                      f'url = "http://127.0.0.1:9/x.jpg"\n{devices}')
    site = Site(load_settings(config), SystemClock())
    started = time.monotonic()
    try:
        with pytest.raises(ConfigError) as refused:
            await site.start()
    finally:
        await site.stop()
    assert time.monotonic() - started < 8
    assert "refused test-site.controller: Not authorized" in str(refused.value)
    assert wrong.password("test-site.controller") not in str(refused.value)
