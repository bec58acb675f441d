"""Free TCP ports for simulators, embedded brokers and the tests that start real servers.

A port picked by binding port 0 comes from the kernel's ephemeral range, the same range the kernel
draws from for every other port-0 bind and for the local end of every outgoing connection. Between
the pick and the server's own bind, any of those can take it ("address already in use": seen in CI
when a controller's API port had become a simulator's connection to the broker). So ports are
picked *below* the ephemeral range, where the kernel never hands a port out on its own.
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 20000
"""Below this are ports that services are registered on (PostgreSQL 5432, MQTT 1883/8883, …)."""

_given: set[int] = set()
_lock = threading.Lock()
_random = random.SystemRandom()


def check_bindable(host: str, port: int) -> None:
    """Raise the OSError a server binding ``host:port`` now would get (in use, not permitted, no such
    address).

    Binds with SO_REUSEADDR, as uvicorn, Mosquitto and asyncio servers do: connections of a server that
    just died linger in TIME_WAIT on its port, and they do not stop its restart from binding it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))


def port_is_free(host: str, port: int) -> bool:
    """Nobody listens on ``host:port`` right now: a server could bind it."""
    try:
        check_bindable(host, port)
    except OSError:
        return False
    return True


def _ephemeral_low() -> int | None:
    try:
        low = int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return low if low - _LOWEST >= 2000 else None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now, that the kernel will not hand to anyone else meanwhile.

    Never the same port twice in one process, so two servers asked for in a row do not collide either.
    Where the ephemeral range is not known (not Linux) the kernel picks, as before.
    """
    low = _ephemeral_low()
    if low is not None:
        with _lock:
            for _ in range(200):
                port = _random.randrange(_LOWEST, low)
                if port not in _given and port_is_free(host, port):
                    _given.add(port)
                    return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
