"""Ports picked for simulators and test servers stay clear of the kernel's ephemeral range, so an
outgoing connection or another port-0 bind cannot take one between the pick and the server's bind
(CI once saw a controller fail to start with "address already in use" for exactly that reason)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from simulators.ports import free_port, port_is_free

RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


@pytest.mark.skipif(not RANGE.exists(), reason="the kernel's ephemeral port range is only known on Linux")
def test_free_ports_are_below_the_ephemeral_range_and_never_repeat():
    low = int(RANGE.read_text().split()[0])
    ports = [free_port() for _ in range(300)]
    assert all(p < low for p in ports)
    assert len(set(ports)) == len(ports)


def test_a_free_port_can_be_bound_and_a_listening_one_is_not_free():
    port = free_port()
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        assert not port_is_free("127.0.0.1", port)
    assert port_is_free("127.0.0.1", port)


def test_a_port_whose_server_just_closed_with_connections_lingering_is_free():
    port = free_port()
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen()
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server's side closes first: TIME_WAIT on the server's port
        client.close()
    assert port_is_free("127.0.0.1", port)
