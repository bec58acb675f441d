"""Where and how the MQTT client connects: the broker's address, the account it logs in with, TLS with
the site's CA, and the bounded reader that keeps an oversized message out of memory. Kept apart from
the client facade (``devices/transport/mqtt.py``), which re-exports these names."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho

from lane.errors import ConfigError

DEFAULT_MAX_PAYLOAD = 64 * 1024
"""Bytes of the largest message a lane needs (a display picture or a card event is under 1 KiB)."""

PUBLISH_HEADER_MAX = 2 + 65535 + 2
"""A PUBLISH's topic length, longest topic and packet id: what must be kept of an oversized one."""


@dataclass(frozen=True)
class BrokerAddress:
    """A broker URL parsed once at the edge: ``mqtt[s]://host[:port]``.

    Credentials never ride in the URL: URLs are printed and logged. A URL carrying them is refused
    (without echoing it) and the account goes to :class:`MqttLogin`."""

    host: str
    port: int
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ConfigError(f"mqtt url {url!r}: scheme must be mqtt:// or mqtts://")
        if parts.username is not None or parts.password is not None:
            raise ConfigError("mqtt url: no user or password in the URL (URLs are printed and logged); "
                              "the account and its secret come from [mqtt] credentials_dir")
        if not parts.hostname:
            raise ConfigError(f"mqtt url {url!r}: no host")
        tls = parts.scheme in ("mqtts", "ssl")
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError as exc:
            raise ConfigError(f"mqtt url {url!r}: bad port") from exc
        return cls(host=parts.hostname, port=port, tls=tls)


@dataclass(frozen=True)
class MqttLogin:
    """One account on the site's broker. The secret is kept out of ``repr`` so it never reaches a log."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class TlsFiles:
    """``mqtts://`` with the site's own CA (``ca_file``; the system's CAs when unset) and, where the
    broker asks for client certificates, this client's certificate and key."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def context(self) -> ssl.SSLContext:
        """A verifying TLS context; ConfigError naming the file that cannot be used."""
        if (self.cert_file is None) != (self.key_file is None):
            raise ConfigError("mqtt TLS: cert_file and key_file go together")
        try:
            ctx = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"mqtt TLS: cannot use CA file {self.ca_file}: {exc}") from exc
        if self.cert_file is not None:
            try:
                ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"mqtt TLS: cannot use certificate {self.cert_file} with key {self.key_file}: "
                                  f"{exc}") from exc
        return ctx


class BoundedPaho(paho.Client):
    """paho reads a whole packet into memory before handing it over: three 250 MB publishes took a
    controller to 1 GB and stalled it. This client keeps at most the head of a packet longer than
    ``max_packet`` (enough for its topic and id) and reads the rest through a small buffer; the
    message then arrives marked ``oversized`` and is dropped. It is still acknowledged, so the broker
    does not send it again on every reconnect.

    MQTT 5's Maximum Packet Size would ask the broker not to send such a packet at all, but the
    embedded broker speaks only 3.1.1, whose persistent sessions the outage handling relies on; this
    works with any broker. It leans on paho's reader (``_sock_recv``, ``_in_packet``), pinned by
    ``tests/devices/test_mqtt_transport.py``."""

    def __init__(self, *args: Any, max_packet: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_packet = max_packet
        self.oversized_length = 0
        """Remaining length of the packet being read when it is over the limit, else 0."""

    def _sock_recv(self, bufsize: int) -> bytes:
        packet = self._in_packet
        if not packet["command"]:
            self.oversized_length = 0  # a new packet begins
        elif packet["have_remaining"] and packet["remaining_length"] > self.max_packet:
            self.oversized_length = packet["remaining_length"]
            del packet["packet"][max(self.max_packet, PUBLISH_HEADER_MAX):]
            bufsize = min(bufsize, 65536)
        return super()._sock_recv(bufsize)
