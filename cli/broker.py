"""The site's broker from the composition root: ``lajur broker config``, the controller's own login,
and the technician's watch line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devices.mqtt_access import controller_username, technician_username
from devices.mqtt_broker import settings_accounts, settings_broker_options, write_broker_files
from devices.mqtt_secrets import CredentialsDir
from devices.transport.mqtt import MqttClient, TlsFiles
from lane.errors import ConfigError
from lane.settings import Settings, load_settings
from simulators.broker import mosquitto_sub_command


def tls_files(settings: Settings) -> TlsFiles | None:
    m = settings.mqtt
    if m.ca_file is None and m.cert_file is None:
        return None
    return TlsFiles(m.ca_file, m.cert_file, m.key_file)


def controller_client(settings: Settings, instance: str) -> MqttClient:
    """The controller's connection: its own account (``[mqtt] controller``), which is also its client id
    (two processes need two accounts), over TLS where configured, reading no message over ``max_payload``.
    Without ``credentials_dir``: no login (a development broker), the client id naming the process."""
    m = settings.mqtt
    assert settings.mqtt_url is not None
    if m.credentials_dir is None:
        return MqttClient(settings.mqtt_url, f"lajur-controller-{settings.site}-{instance}", tls=tls_files(settings),
                          max_payload=m.max_payload)
    login = CredentialsDir(m.credentials_dir).login(controller_username(settings.site, m.controller or m.controllers[0]))
    return MqttClient(settings.mqtt_url, login.username, login=login, tls=tls_files(settings), max_payload=m.max_payload)


def watch_command(settings: Settings) -> str:
    """``mosquitto_sub`` as the read-only technician: availability and state, never card events."""
    assert settings.mqtt_url is not None
    m = settings.mqtt
    if m.credentials_dir is None:
        return mosquitto_sub_command(settings.mqtt_url, tls=tls_files(settings))
    username = technician_username(settings.site)
    return mosquitto_sub_command(settings.mqtt_url, username=username,
                                 password_file=CredentialsDir(m.credentials_dir).file(username).resolve(),
                                 tls=tls_files(settings))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lajur broker config",
        description="Write the site's Mosquitto configuration, password file and ACL from the TOML that "
                    "`lajur serve` reads. Secrets are made once, one private file per account, in "
                    "[mqtt] credentials_dir; the broker gets only their hashes (docs/security.md).")
    p.add_argument("--config", required=True, help="the site's TOML settings file")
    p.add_argument("--out", required=True, help="directory for mosquitto.conf, passwd and acl")
    p.add_argument("--install-dir", default=None,
                   help="where passwd and acl will live on the broker's host (default: --out itself)")
    p.add_argument("--rotate", action="append", default=[], metavar="ACCOUNT",
                   help="give this account a new secret (repeatable); its old one stops working at the reload")
    return p


def broker_config_main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
        if settings.mqtt.credentials_dir is None:
            raise ConfigError(f"{args.config}: set [mqtt] credentials_dir, the private directory of the site's "
                              "MQTT secrets (made there once)")
        accounts = settings_accounts(settings)
        credentials = CredentialsDir(settings.mqtt.credentials_dir)
        known = {a.username for a in accounts}
        for name in args.rotate:
            if name not in known:
                raise ConfigError(f"--rotate {name}: no such account; the site's are {', '.join(sorted(known))}")
        made = credentials.ensure(a.username for a in accounts)
        for name in args.rotate:
            credentials.rotate(name)
        options = settings_broker_options(settings)
        install = Path(args.install_dir) if args.install_dir else None
        files = write_broker_files(Path(args.out), settings.site, accounts, credentials, options, install)
    except ConfigError as exc:
        print(f"lajur: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"lajur: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {files.config}, {files.passwd} and {files.acl}: {len(accounts)} accounts")
    if made:
        print(f"new secrets in {credentials.path} for: {', '.join(made)}")
    if args.rotate:
        print(f"new secrets for: {', '.join(args.rotate)} (set them on the device, then reload the broker)")
    print("deploy: docs/security.md (copy the three files, then `kill -HUP` mosquitto or restart it)")
    return 0
