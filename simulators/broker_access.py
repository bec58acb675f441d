"""The embedded broker's door and rules, read from the very files ``lajur broker config`` writes for a
site's Mosquitto (its password hashes and ACL), so a demo runs under what a site deploys.

* :class:`SiteAccess` checks a connection's CONNECT *before* amqtt sees it: no account, a wrong
  secret or a Last Will on a topic the account may not write are refused with "not authorised"
  (amqtt would otherwise already have touched the session of that client id), and the client id is
  replaced by the account, as Mosquitto's ``use_username_as_clientid`` does: nobody takes over
  another's session.
* :class:`SiteTopicPlugin` applies the ACL inside amqtt: publishes and deliveries as Mosquitto 2 does
  (a subscription is accepted, each message is checked as it is delivered).
* :class:`SiteBroker` checks retained messages too as it hands them to a new subscription (amqtt
  does not), so nobody reads another device's retained state by subscribing to ``lajur/#``.
* :class:`BoundedReader` disconnects a client that sends a packet longer than the limit, before it
  is read (Mosquitto's ``max_packet_size``).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from dataclasses import dataclass
from pathlib import Path

from amqtt.adapters import ReaderAdapter
from amqtt.broker import Broker
from amqtt.contexts import Action, BaseContext
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from devices.mqtt_access import Account, parse_acl
from devices.mqtt_broker import BrokerFiles
from devices.mqtt_secrets import parse_passwd, verify_password
from lane.errors import ConfigError, ProtocolError

log = logging.getLogger(__name__)

CONNACK_NOT_AUTHORISED = bytes((0x20, 0x02, 0x00, 0x05))
_MAX_CONNECT = 4 * 65536
"""A CONNECT holds at most a client id, a will, a user and a password of up to 64 KiB each."""


@dataclass(frozen=True)
class Connect:
    """What the gate needs of a CONNECT packet (``body``: the packet after its fixed header)."""

    body: bytes
    client_id: str
    username: str | None
    password: str | None
    will_topic: str | None
    client_id_at: int
    """Where the client id's length prefix starts in ``body``."""

    def packet(self, client_id: str | None = None) -> bytes:
        """The packet again, with another client id if given."""
        body = self.body
        if client_id is not None:
            raw = client_id.encode("utf-8")
            old_end = self.client_id_at + 2 + len(self.client_id.encode("utf-8"))
            body = body[:self.client_id_at] + struct.pack("!H", len(raw)) + raw + body[old_end:]
        length, header = len(body), bytearray((0x10,))
        while True:
            byte, length = length & 0x7F, length >> 7
            header.append(byte | (0x80 if length else 0))
            if not length:
                return bytes(header) + body


def _string(body: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 2 > len(body):
        raise ProtocolError("CONNECT ends inside a length")
    (length,) = struct.unpack_from("!H", body, pos)
    end = pos + 2 + length
    if end > len(body):
        raise ProtocolError("CONNECT ends inside a string")
    return body[pos + 2:end], end


def parse_connect(body: bytes) -> Connect:
    """The variable header and payload of an MQTT 3.1.1 CONNECT (after its fixed header)."""
    _name, pos = _string(body, 0)
    if pos + 4 > len(body):
        raise ProtocolError("CONNECT too short")
    flags = body[pos + 1]
    pos += 4  # level, flags, keep-alive
    client_id_at = pos
    client_id, pos = _string(body, pos)
    will_topic = None
    if flags & 0x04:
        raw_topic, pos = _string(body, pos)
        will_topic = raw_topic.decode("utf-8", "replace")
        _message, pos = _string(body, pos)
    username = password = None
    if flags & 0x80:
        raw, pos = _string(body, pos)
        username = raw.decode("utf-8", "replace")
    if flags & 0x40:
        raw, pos = _string(body, pos)
        password = raw.decode("utf-8", "replace")
    try:
        client_id_text = client_id.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("client id is not UTF-8") from exc
    return Connect(body, client_id_text, username, password, will_topic, client_id_at)


async def read_connect(reader: asyncio.StreamReader) -> Connect:
    """Read the first packet whole (it must be a CONNECT of sane size)."""
    first = await reader.readexactly(1)
    if first[0] >> 4 != 1:
        raise ProtocolError("the first packet is not a CONNECT")
    header, length, shift = bytearray(first), 0, 0
    for _ in range(4):
        byte = (await reader.readexactly(1))[0]
        header.append(byte)
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    else:
        raise ProtocolError("bad remaining length")
    if length > _MAX_CONNECT:
        raise ProtocolError(f"a {length}-byte CONNECT")
    return parse_connect(await reader.readexactly(length))


@dataclass(frozen=True)
class SiteAccess:
    """A site's accounts: password hashes and what each may read and write."""

    hashes: dict[str, str]
    accounts: dict[str, Account]

    @classmethod
    def load(cls, files: BrokerFiles) -> SiteAccess:
        try:
            hashes = parse_passwd(files.passwd.read_text(encoding="utf-8"))
            accounts = parse_acl(files.acl.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"embedded broker: cannot read {exc.filename}: {exc.strerror}") from exc
        return cls(hashes, accounts)

    def refusal(self, connect: Connect) -> str | None:
        """Why this CONNECT is refused, or None to let it in (as its account: :meth:`Connect.packet`
        with the account for client id). The reason is logged; the client only hears "not authorised",
        as from Mosquitto."""
        user = connect.username
        if not user:
            return "no account (anonymous)"
        hashed = self.hashes.get(user)
        if hashed is None or not verify_password(connect.password or "", hashed):
            return f"wrong secret or unknown account {user!r}"
        account = self.accounts.get(user)
        if connect.will_topic is not None and (account is None or not account.may_write(connect.will_topic)):
            return f"account {user!r} may not leave a will on {connect.will_topic[:120]!r}"
        return None


class SiteLoginPlugin(BaseAuthPlugin):
    """Lets in what :class:`SiteAccess` let through. Unlike amqtt's anonymous plugin it does not mark
    sessions anonymous, for which amqtt keeps no QoS 1 messages while a client is away."""

    async def authenticate(self, *, session: Session) -> bool:
        return bool(session.username)


class SiteTopicPlugin(BaseTopicPlugin):
    """amqtt's side of the ACL: ``acl_file`` is the file Mosquitto reads."""

    @dataclass
    class Config:
        acl_file: str = ""

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        path = Path(self.config.acl_file)
        self._accounts = parse_acl(path.read_text(encoding="utf-8"))

    async def topic_filtering(self, *, session: Session | None = None, topic: str | None = None,
                              action: Action | None = None) -> bool:
        account = self._accounts.get(session.username or "") if session is not None else None
        if account is None or topic is None:
            return False
        if action == Action.SUBSCRIBE:
            return True  # Mosquitto 2 accepts it and checks each message on delivery
        allowed = account.may_write(topic) if action == Action.PUBLISH else account.may_read(topic)
        if not allowed and action == Action.PUBLISH:
            log.info("embedded broker: denied publish by %s to %s", account.username, topic[:120])
        return allowed


class BoundedReader(ReaderAdapter):
    """amqtt's reader with the CONNECT already read replayed first, and no read over ``limit`` bytes:
    a longer packet ends the connection before any of it is held (amqtt reads a publish's payload
    in one request of its whole length)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limit: int,
                 head: bytes = b"") -> None:
        self._reader, self._writer, self._limit, self._head = reader, writer, limit, head

    async def read(self, n: int = -1) -> bytes:
        if n > self._limit:
            log.warning("embedded broker: a %d-byte packet from %s; disconnected (limit %d)", n,
                        self._writer.get_extra_info("peername"), self._limit)
            self._writer.transport.abort()
            raise asyncio.IncompleteReadError(b"", n)
        if self._head:
            if n < 0:
                data, self._head = self._head + await self._reader.read(), b""
                return data
            data, self._head = self._head[:n], self._head[n:]
            if len(data) < n:
                data += await self._reader.readexactly(n - len(data))
            return data
        if n < 0:
            return await self._reader.read()
        return await self._reader.readexactly(n)

    def feed_eof(self) -> None:
        self._reader.feed_eof()


class SiteBroker(Broker):
    """amqtt's broker, with retained messages checked against the ACL like every other delivery."""

    async def _publish_retained_messages_for_subscription(self, subscription: tuple[str, int],
                                                          session: Session) -> None:
        topic_filter, qos = subscription
        handler = self._get_handler(session)
        if handler is None:
            return
        sends = []
        for topic, retained in list(self._retained_messages.items()):
            if self._matches(topic, topic_filter) and await self._topic_filtering(session, topic, Action.RECEIVE):
                sends.append(asyncio.ensure_future(
                    handler.mqtt_publish(retained.topic, retained.data, min(qos, retained.qos or qos), retain=True)))
        if sends:
            await asyncio.wait(sends)
