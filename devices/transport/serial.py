"""Serial transport: moves bytes between a pyserial port and asyncio code, nothing more.

pyserial is blocking, so one background thread owns the reads and hands every chunk to the event loop
with ``call_soon_threadsafe``; the loop side keeps a buffer that coroutines ``await`` with a timeout.
Framing is not our job (see each device's ``codec``). A port that disappears (USB adapter unplugged,
simulator gone) marks the transport disconnected; the thread keeps trying to reopen it with bounded
back-off so a port that comes back is used again without anyone restarting the lane.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

import serial

from lane.errors import DeviceOffline, DeviceTimeout

log = logging.getLogger(__name__)

ConnectionListener = Callable[[bool], None]


class SerialTransport:
    """An async byte pipe over any pyserial URL (``/dev/ttyUSB0``, ``/dev/pts/3``, ``loop://``, ``socket://h:p``).

    ``read_timeout`` is the blocking-read slice of the reader thread (how quickly it notices ``stop()``),
    not the timeout of an ``await read(...)``: every async read takes its own ``timeout``.
    """

    def __init__(
        self,
        url: str,
        *,
        baudrate: int = 9600,
        read_timeout: float = 0.2,
        name: str | None = None,
        reopen_min: float = 0.2,
        reopen_max: float = 2.0,
    ) -> None:
        self.url = url
        self.baudrate = baudrate
        self.read_timeout = read_timeout
        self.name = name or url
        self.reopen_min = reopen_min
        self.reopen_max = reopen_max
        self.lock = asyncio.Lock()
        """Held for one request/response exchange, so drivers sharing a line (RS-485) never interleave."""
        self._port: serial.SerialBase | None = None
        self._port_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._buffer = bytearray()
        self._data_event = asyncio.Event()
        self._connected = False
        self._listeners: list[ConnectionListener] = []
        self.reopen_count = 0

    # ------------------------------------------------------------------ lifecycle
    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def started(self) -> bool:
        return self._thread is not None

    async def start(self) -> None:
        """Start the reader thread. Never raises if the port is absent: the thread keeps trying."""
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"serial-{self.name}", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Stop and join the reader thread, close the port. Safe to call twice."""
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        with self._port_lock:
            port = self._port
        if port is not None:
            try:
                port.cancel_read()
            except Exception:  # not every URL handler supports it; the read slice ends anyway
                pass
        await asyncio.get_running_loop().run_in_executor(None, thread.join)
        self._thread = None
        self._close_port()
        self._set_connected(False)

    async def wait_connected(self, timeout: float) -> None:
        """Wait until the port is open; DeviceOffline if it is not within ``timeout`` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._connected:
            if asyncio.get_running_loop().time() >= deadline:
                raise DeviceOffline(self.name, f"port {self.url} not open after {timeout:.1f}s")
            await asyncio.sleep(0.01)

    def add_connection_listener(self, listener: ConnectionListener) -> Callable[[], None]:
        """``listener(connected)`` is called on the loop thread when the port opens or goes away."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # ------------------------------------------------------------------ I/O (loop side)
    async def write(self, data: bytes) -> None:
        """Write all of ``data``; DeviceOffline when the port is not open."""
        with self._port_lock:
            port = self._port
        if port is None or not self._connected:
            raise DeviceOffline(self.name, f"port {self.url} is not open")
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self._write_blocking, port, bytes(data))
        except (serial.SerialException, OSError) as exc:
            self._handle_port_error(exc)
            raise DeviceOffline(self.name, f"write failed: {exc}") from exc

    @staticmethod
    def _write_blocking(port: serial.SerialBase, data: bytes) -> None:
        port.write(data)
        port.flush()

    def reset_input(self) -> None:
        """Drop buffered bytes (stale replies) before starting a new exchange."""
        self._buffer.clear()
        self._data_event.clear()

    async def read(self, n: int, *, timeout: float) -> bytes:
        """Exactly ``n`` bytes, or DeviceTimeout (the partial bytes stay buffered)."""
        return await self._wait_for(lambda: n if len(self._buffer) >= n else None, timeout, f"{n} bytes")

    async def read_until(self, terminator: bytes, *, timeout: float, max_bytes: int = 4096) -> bytes:
        """Bytes up to and including ``terminator``. Overlong runs without one are returned at
        ``max_bytes`` so a babbling device cannot grow the buffer without bound."""

        def ready() -> int | None:
            idx = self._buffer.find(terminator)
            if idx >= 0:
                return idx + len(terminator)
            return max_bytes if len(self._buffer) >= max_bytes else None

        return await self._wait_for(ready, timeout, f"terminator {terminator!r}")

    async def read_some(self, *, timeout: float) -> bytes:
        """Whatever is buffered (at least one byte), or DeviceTimeout."""
        return await self._wait_for(lambda: len(self._buffer) or None, timeout, "any byte")

    async def _wait_for(self, ready: Callable[[], int | None], timeout: float, what: str) -> bytes:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            count = ready()
            if count:
                chunk = bytes(self._buffer[:count])
                del self._buffer[:count]
                return chunk
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise DeviceTimeout(self.name, f"no {what} within {timeout:.3f}s")
            self._data_event.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._data_event.wait()

    # ------------------------------------------------------------------ reader thread
    def _run(self) -> None:
        backoff = self.reopen_min
        while not self._stopping.is_set():
            port = self._open()
            if port is None:
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, self.reopen_max)
                continue
            backoff = self.reopen_min
            self._call_in_loop(self._set_connected, True)
            try:
                while not self._stopping.is_set():
                    data = port.read(max(1, port.in_waiting))
                    if data:
                        self._call_in_loop(self._on_data, data)
            except (serial.SerialException, OSError, TypeError) as exc:
                # TypeError: pyserial's posix read on a closed fd (port closed under us).
                if not self._stopping.is_set():
                    log.warning("serial %s: port lost (%s); will reopen", self.name, exc)
            self._close_port()
            self._call_in_loop(self._set_connected, False)
            if not self._stopping.is_set():
                self._stopping.wait(backoff)

    def _open(self) -> serial.SerialBase | None:
        try:
            port = serial.serial_for_url(
                self.url,
                baudrate=self.baudrate,
                bytesize=serial.EIGHTBITS,
                parity=serial.PARITY_NONE,
                stopbits=serial.STOPBITS_ONE,
                timeout=self.read_timeout,
                write_timeout=2.0,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            log.debug("serial %s: cannot open %s: %s", self.name, self.url, exc)
            return None
        with self._port_lock:
            self._port = port
        self.reopen_count += 1
        log.info("serial %s: opened %s", self.name, self.url)
        return port

    def _close_port(self) -> None:
        with self._port_lock:
            port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except Exception:  # closing a vanished port may fail; it is gone either way
                pass

    def _call_in_loop(self, fn: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # loop closed between the check and the call
            pass

    # ------------------------------------------------------------------ loop-thread callbacks
    def _on_data(self, data: bytes) -> None:
        self._buffer.extend(data)
        self._data_event.set()

    def _set_connected(self, connected: bool) -> None:
        if connected == self._connected:
            return
        self._connected = connected
        if not connected:
            self.reset_input()
        for listener in list(self._listeners):
            try:
                listener(connected)
            except Exception:
                log.exception("serial %s: connection listener failed", self.name)

    def _handle_port_error(self, exc: BaseException) -> None:
        log.warning("serial %s: write error (%s)", self.name, exc)
        with self._port_lock:
            port = self._port
        if port is not None:
            try:
                port.cancel_read()
            except Exception:
                pass
