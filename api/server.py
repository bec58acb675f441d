"""Serve the API on the lane controllers' own event loop: uvicorn as one more task beside the lanes.

Routes then read and change lane state directly, in the loop's turn, with no thread hand-off; what
may block (the database) runs in FastAPI's thread pool. The listening socket is bound when the
server is made, so a port in use is an error at start-up, and a client connecting before the server
task first runs waits in the backlog instead of being refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)

BACKLOG = 128
STOP_SECONDS = 10.0


class _OnTheLoop(uvicorn.Server):
    """uvicorn, minus its own signal handlers: the process's SIGINT/SIGTERM belong to the command
    that runs the lanes (it stops the lanes, then the API)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ApiServer:
    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning") -> None:
        self.host = host
        self.socket = _listen(host, port)
        self.port = int(self.socket.getsockname()[1])
        self.app = app
        self._server = _OnTheLoop(uvicorn.Config(app, host=host, port=self.port, log_level=log_level,
                                                 lifespan="off", access_log=False, timeout_graceful_shutdown=5))
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Start serving as a task of the running loop (call from a coroutine on the lanes' loop)."""
        self._task = asyncio.get_running_loop().create_task(self._server.serve(sockets=[self.socket]),
                                                           name=f"api:{self.port}")

    async def stop(self) -> None:
        """Finish the requests in flight (bounded), close the WebSockets, stop listening."""
        self._server.should_exit = True
        if self._task is None:
            self.socket.close()
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_SECONDS)
        except TimeoutError:
            log.error("the API did not stop within %.0f s; cancelling it", STOP_SECONDS)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        finally:
            self.socket.close()


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: any free port), or the OSError a bind gets."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
