"""Limits at the HTTP edge, against the real server (uvicorn on the test's loop): a 200 MB anonymous
login body is refused before it is read, announced or chunked, and the server's memory stays flat;
text fields are checked for length, control characters and digits with a clear message."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from api.app import create_app
from api.edge import MAX_BODY_BYTES
from api.server import ApiServer
from tests.api.conftest import TestClient, bearer, make_auth

BIG = 200 * 1024 * 1024
CHUNK = b"x" * (1024 * 1024)


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class PeakRss:
    """The process's largest resident size while the block runs (sampled every 5 ms)."""

    def __enter__(self) -> PeakRss:
        self.base = self.peak = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss_mb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def grew_mb(self) -> float:
        return self.peak - self.base


@pytest.fixture
async def server(api_store):
    srv = ApiServer(create_app(api_store, {}, auth=make_auth(api_store)), "127.0.0.1", 0)
    srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


async def _post_huge(port: int, *, chunked: bool) -> tuple[bytes, int, float]:
    """POST a 200 MB login body; returns the status line, how many body bytes the server took
    before it answered, and the seconds it took to answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    framing = b"Transfer-Encoding: chunked\r\n" if chunked else b"Content-Length: %d\r\n" % BIG
    writer.write(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + framing + b"\r\n")
    t0 = time.perf_counter()
    sent = 0

    async def send_body() -> None:
        nonlocal sent
        head = b'{"username": "officer", "password": "'
        writer.write(b"%x\r\n%s\r\n" % (len(head), head) if chunked else head)
        while sent < BIG:
            writer.write(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK) if chunked else CHUNK)
            await writer.drain()
            sent += len(CHUNK)

    sender = asyncio.create_task(send_body())
    try:
        status = await asyncio.wait_for(reader.readline(), 30)
        took = time.perf_counter() - t0
    finally:
        sender.cancel()
        try:
            await sender
        except (asyncio.CancelledError, ConnectionError):
            pass
        writer.close()
    return status, sent, took


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_200_mb_login_body_is_refused_early_and_memory_stays_flat(server, chunked):
    with PeakRss() as rss:
        status, sent, took = await _post_huge(server.port, chunked=chunked)
    print(f"\n200 MB login body ({'chunked' if chunked else 'announced'}): {status.decode().strip()} after "
          f"{sent / 1e6:.1f} MB sent, {took * 1000:.0f} ms; peak RSS +{rss.grew_mb:.1f} MB")
    assert status.startswith(b"HTTP/1.1 413"), status
    assert sent < 64 * MAX_BODY_BYTES, "refused long before the end"
    assert rss.grew_mb < 40, f"the server's memory grew by {rss.grew_mb:.0f} MB"
    async with __import__("httpx").AsyncClient(base_url=server.url) as c:  # and it still answers
        assert (await c.get("/healthz")).status_code == 200


def test_an_oversized_body_is_413_and_says_so(client):
    r = client.post("/api/v1/auth/login", content=b"x" * (MAX_BODY_BYTES + 1),
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "Too Large" in r.text
    assert r.headers["x-content-type-options"] == "nosniff", "FastAPI's own 413 carries the headers too"


@pytest.mark.parametrize("body,field,says", [
    ({"command": "open", "reason": "stuck\x00car"}, "reason", "control character"),
    ({"command": "open", "reason": "stuck \u202ecar"}, "reason", "control character"),
    ({"command": "open", "reason": "x" * 301}, "reason", "at most 300"),
])
def test_text_with_control_characters_or_too_long_is_refused_clearly(client, tokens, body, field, says):
    r = client.post("/api/v1/lanes/lane-1/gates/entry-gate", json=body, headers=bearer(tokens["officer"]))
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"] and says in r.json()["detail"]


@pytest.mark.parametrize("plate,says", [("B\x001234XY", "control character"), ("B١٢٣٤XY", "digits 0-9"),
                                        ("B 1234 XY\n", "control character")])
def test_a_plate_typed_by_an_officer_is_checked_at_the_edge(client, tokens, plate, says):
    r = client.post("/api/v1/visits/lane-1-20260101-0001/actions", json={"action": "confirm_plate", "plate": plate},
                    headers=bearer(tokens["officer"]))
    assert r.status_code == 422 and says in r.json()["detail"], r.text


def test_account_names_and_passwords_are_checked(client, tokens):
    r = client.post("/api/v1/users", json={"username": "rudi", "role": "officer", "password": "longenough\x001",
                                           "full_name": "Rudi\u0000 Hartono"}, headers=bearer(tokens["admin"]))
    assert r.status_code == 422
    assert "password" in r.json()["detail"] and "full_name" in r.json()["detail"]
    r = TestClient(client.app).post("/api/v1/auth/login", json={"username": "officer\x00", "password": "x"})
    assert r.status_code == 422 and "control character" in r.json()["detail"]
