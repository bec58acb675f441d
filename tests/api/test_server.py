"""The API served on the lanes' own event loop (``api.server``): it answers from the same loop the
test runs on, a port already in use fails at once, and a stop leaves the port free again."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from api.app import create_app
from api.server import ApiServer
from tests.api.conftest import make_auth


async def test_the_api_answers_from_the_callers_loop_and_stops_cleanly(api_store):
    app = create_app(api_store, {}, auth=make_auth(api_store))
    seen: list[tuple[asyncio.AbstractEventLoop, threading.Thread]] = []

    @app.get("/loop-probe", include_in_schema=False)
    async def probe() -> dict[str, bool]:
        seen.append((asyncio.get_running_loop(), threading.current_thread()))
        return {"ok": True}

    server = ApiServer(app, "127.0.0.1", 0)
    server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            assert (await client.get("/loop-probe")).status_code == 200
        assert seen == [(asyncio.get_running_loop(), threading.current_thread())]
        with pytest.raises(OSError):
            ApiServer(app, "127.0.0.1", server.port)  # the port is ours: a second server fails at once
    finally:
        await server.stop()
    again = ApiServer(app, "127.0.0.1", server.port)  # and free again after the stop
    await again.stop()
