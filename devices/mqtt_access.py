"""Who may do what on a site's broker: one account per device, one per controller, one read-only
technician, and nothing for anyone else.

An intruder on the site network with nothing but an MQTT client could publish a payment "paid"
event, read every driver's NIK from the card reader's events, open a gate and forge retained states
(issue 23). Under these rules:

* a device publishes only its own ``availability``, ``state``, ``ack`` and ``event`` and reads only its
  own ``cmd`` (a display reads its own ``state``, which the controller writes, and publishes only its
  availability);
* a controller reads what devices publish and writes commands and display pictures; only it reads
  card-reader events (personal data);
* the technician reads availability and state, nothing with personal data, and writes nothing.

The rules are written once here. ``lajur broker config`` renders them as Mosquitto's ACL file
(:func:`render_acl`), and the embedded broker enforces that very file (:func:`parse_acl`), so a demo
runs under what a site deploys. Matching follows Mosquitto 2: a subscription is accepted and every
message is checked against the reader's ``read`` topics as it is delivered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from devices.display.codec import DEVICE_PREFIX as DISPLAY_PREFIX
from devices.mqtt_codec import ROOT, STATIONS, Topics
from devices.transport.mqtt import topic_matches
from lane.errors import ConfigError

TECHNICIAN = "technician"
_NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Account:
    """One broker account and the topic filters it may read (receive) and write (publish)."""

    username: str
    role: str
    """``device``, ``controller`` or ``technician``: for people reading the ACL and the docs."""
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()

    def may_read(self, topic: str) -> bool:
        return any(topic_matches(f, topic) for f in self.reads)

    def may_write(self, topic: str) -> bool:
        return any(topic_matches(f, topic) for f in self.writes)


def _name(kind: str, value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ConfigError(f"{kind} {value!r}: a broker account needs letters, digits, '-' or '_' only")
    return value


def device_username(site: str, lane: str, device: str) -> str:
    """``mpp-batang.lane-1.payment``: the account, and the client id, of one device."""
    return f"{_name('site', site)}.{_name('lane', lane)}.{_name('device', device)}"


def controller_username(site: str, name: str = "controller") -> str:
    return f"{_name('site', site)}.{_name('controller', name)}"


def technician_username(site: str) -> str:
    return f"{_name('site', site)}.{TECHNICIAN}"


def device_account(topics: Topics) -> Account:
    """A device's own topics only; a display is written to by the controller and only says it is there."""
    username = device_username(topics.site, topics.lane, topics.device)
    if topics.device.startswith(DISPLAY_PREFIX):
        return Account(username, "device", reads=(topics.cmd, topics.state), writes=(topics.availability,))
    return Account(username, "device", reads=(topics.cmd,),
                   writes=(topics.availability, topics.state, topics.ack, topics.event))


def controller_account(site: str, name: str = "controller") -> Account:
    base = f"{ROOT}/{site}/+/+"
    return Account(
        controller_username(site, name), "controller",
        reads=tuple(f"{base}/{kind}" for kind in ("availability", "state", "ack", "event")),
        writes=(f"{base}/cmd", *(f"{ROOT}/{site}/+/{DISPLAY_PREFIX}{station}/state" for station in STATIONS)),
    )


def technician_account(site: str) -> Account:
    """Watches the site's health; card events (NIK, name, birth date, SIM number) never reach it."""
    base = f"{ROOT}/{site}/+/+"
    return Account(technician_username(site), TECHNICIAN, reads=(f"{base}/availability", f"{base}/state"))


def site_accounts(site: str, lanes: Mapping[str, Iterable[str]],
                  controllers: Sequence[str] = ("controller",)) -> list[Account]:
    """Every account of a site: ``lanes`` maps each lane to the names of its MQTT devices."""
    accounts = [controller_account(site, name) for name in controllers]
    accounts.append(technician_account(site))
    for lane, devices in lanes.items():
        accounts += [device_account(Topics(site, lane, device)) for device in devices]
    return accounts


# ------------------------------------------------------------------ Mosquitto's ACL file
def render_acl(accounts: Iterable[Account], site: str) -> str:
    """The ACL file Mosquitto reads (``acl_file``). Anonymous clients get no line, hence nothing."""
    lines = [f"# MQTT access for Lajur site {site}, written by `lajur broker config` (docs/security.md).",
             "# Regenerate rather than edit: the embedded broker of `lajur demo` reads this same file.", ""]
    for account in accounts:
        lines.append(f"# {account.role}")
        lines.append(f"user {account.username}")
        lines += [f"topic read {t}" for t in account.reads]
        lines += [f"topic write {t}" for t in account.writes]
        lines.append("")
    return "\n".join(lines)


def parse_acl(text: str) -> dict[str, Account]:
    """Read back an ACL of the form :func:`render_acl` writes (``user`` and ``topic read|write|readwrite``
    lines). Anything else is refused rather than half-understood: the embedded broker must not grant
    more than Mosquitto would."""
    found: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if words[0] == "user" and len(words) == 2:
            current = found.setdefault(words[1], {"read": [], "write": []})
        elif words[0] == "topic" and len(words) in (2, 3) and current is not None:
            access, topic = (words[1], words[2]) if len(words) == 3 else ("readwrite", words[1])
            if access not in ("read", "write", "readwrite"):
                raise ConfigError(f"ACL line {number}: access {access!r} is not read, write or readwrite")
            for kind in ("read", "write"):
                if kind in access:
                    current[kind].append(topic)
        else:
            raise ConfigError(f"ACL line {number}: {line[:80]!r} is not a user or topic line the embedded "
                              "broker understands")
    return {user: Account(user, "", tuple(rules["read"]), tuple(rules["write"])) for user, rules in found.items()}
