"""The site's broker as Lajur needs it: Mosquitto's configuration, password file and ACL, written from
the same settings ``lajur serve`` reads (``lajur broker config``), and by a simulated site for the
broker it starts itself.

What each line defends is in docs/security.md. In short: nobody connects without an account; every
account reaches only its own topics (:mod:`devices.mqtt_access`); an account is also its client id,
so nobody can take over another's session; and a packet longer than a lane ever sends disconnects
its sender before the broker holds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devices.mqtt_access import Account, render_acl, site_accounts
from devices.mqtt_secrets import CredentialsDir, render_passwd, write_private
from devices.transport.mqtt import DEFAULT_MAX_PAYLOAD, BrokerAddress
from lane.errors import ConfigError
from lane.settings import Settings

PACKET_OVERHEAD = 1024
"""Bytes a packet carries besides its payload (fixed header, topic, packet id), with room to spare."""


@dataclass(frozen=True)
class BrokerOptions:
    """Where and how the broker listens. ``host`` empty: every interface, as a site broker does."""

    port: int = 1883
    host: str = ""
    max_payload: int = DEFAULT_MAX_PAYLOAD
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    require_certificate: bool = False
    persistence_dir: Path | None = None
    """Sessions and retained states kept across broker restarts (unset: Mosquitto's default place)."""
    run_as: str | None = None
    """Mosquitto's ``user``: a simulated site runs it as whoever runs the simulation."""
    log_file: Path | None = None
    anonymous: bool = False
    """Only for tests that do not concern security: no accounts, no ACL."""


@dataclass(frozen=True)
class BrokerFiles:
    config: Path
    passwd: Path
    acl: Path


def render_mosquitto_conf(site: str, options: BrokerOptions, passwd: Path, acl: Path) -> str:
    o = options
    lines = [
        f"# Mosquitto configuration for Lajur site {site}, written by `lajur broker config`.",
        "# What each setting defends: docs/security.md. Reload after a change: kill -HUP the broker.",
        "per_listener_settings false",
        # first: options met before any listener line would open a default one on 1883
        f"listener {o.port}{' ' + o.host if o.host else ''}",
    ]
    if o.cert_file is not None:
        lines += [f"certfile {o.cert_file}", f"keyfile {o.key_file}"]
        if o.ca_file is not None:
            lines.append(f"cafile {o.ca_file}")
        if o.require_certificate:
            lines += ["# clients show a certificate signed by the site's CA as well as their password",
                      "require_certificate true"]
    if o.anonymous:
        lines += ["allow_anonymous true"]
    else:
        lines += [
            "# no account, no connection",
            "allow_anonymous false",
            f"password_file {passwd}",
            f"acl_file {acl}",
            "# an account is its client id: nobody takes over another's session (or kicks a controller off)",
            "use_username_as_clientid true",
        ]
    lines += [
        "# a lane's largest message is under 1 KiB; a longer packet disconnects its sender unread",
        f"max_packet_size {o.max_payload + PACKET_OVERHEAD}",
    ]
    lines.append("persistence true")
    if o.persistence_dir is not None:
        lines.append(f"persistence_location {o.persistence_dir}/")
    if o.run_as is not None:
        lines.append(f"user {o.run_as}")
    if o.log_file is not None:
        lines += [f"log_dest file {o.log_file}", "log_type error", "log_type warning", "log_type notice"]
    return "\n".join(lines) + "\n"


def write_broker_files(out: Path, site: str, accounts: Sequence[Account], credentials: CredentialsDir | None,
                       options: BrokerOptions, install_dir: Path | None = None) -> BrokerFiles:
    """Write ``mosquitto.conf``, ``passwd`` and ``acl`` into ``out`` (private files: the password file
    holds hashes, the ACL the site's layout). The configuration names the other two where they will
    be read from: ``install_dir`` when the files are copied to the broker's host, else ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = BrokerFiles(out / "mosquitto.conf", out / "passwd", out / "acl")
    where = (install_dir or out.resolve())
    if not options.anonymous:
        if credentials is None:
            raise ValueError("a broker with accounts needs their credentials")
        write_private(files.passwd, render_passwd(credentials.hashes(a.username for a in accounts)))
        write_private(files.acl, render_acl(accounts, site))
    write_private(files.config, render_mosquitto_conf(site, options, where / "passwd", where / "acl"))
    return files


# ------------------------------------------------------------------ from a site's settings
def mqtt_devices(settings: Settings) -> dict[str, list[str]]:
    """Each lane's devices that talk MQTT, by the lane's name."""
    return {lane.name: [name for name, cfg in lane.devices.items() if cfg.transport == "mqtt"]
            for lane in settings.lanes}


def settings_accounts(settings: Settings) -> list[Account]:
    return site_accounts(settings.site, mqtt_devices(settings), settings.mqtt.controllers)


def settings_broker_options(settings: Settings) -> BrokerOptions:
    """The listener from ``mqtt_url`` (its port; TLS when ``mqtts://``) and the limits from ``[mqtt]``."""
    if not settings.mqtt_url:
        raise ConfigError("mqtt_url is not set: the broker's port comes from it")
    address = BrokerAddress.parse(settings.mqtt_url)
    m = settings.mqtt
    tls = m.broker_tls
    if not address.tls:
        return BrokerOptions(port=address.port, max_payload=m.max_payload)
    if tls is None:
        raise ConfigError("mqtt_url is mqtts://: the broker needs [mqtt.broker_tls] cert_file and key_file")
    if tls.require_certificate and m.ca_file is None:
        raise ConfigError("[mqtt.broker_tls] require_certificate needs the site's CA ([mqtt] ca_file) to check them")
    return BrokerOptions(port=address.port, max_payload=m.max_payload, ca_file=m.ca_file, cert_file=tls.cert_file,
                         key_file=tls.key_file, require_certificate=tls.require_certificate)
