"""Serial transport: moves bytes between a pyserial port and asyncio code, nothing more.

Two ways to wait for bytes, chosen by the port:

* a device path on POSIX (``/dev/ttyUSB0``, ``/dev/pts/3``): pyserial opens and configures the port
  (baud rate, 8N1, raw mode) and the event loop watches its file descriptor (``add_reader``), so a
  read or a write costs no thread hop. A controller with 32 lanes has 128 ports polled several
  times a second; one reader thread each, plus an executor hop per write, made every reply wait for
  the GIL behind 130 other threads (the tail of the event-to-command latency in ``bench/load.py``);
* any other pyserial URL (``loop://``, ``socket://h:p``, ``rfc2217://``) or another OS: pyserial
  is blocking there, so one background thread owns the reads and hands every chunk to the loop
  with ``call_soon_threadsafe``.

Either way the loop side keeps a buffer that coroutines ``await`` with a timeout. Framing is not our
job (see each device's ``codec``). A port that disappears (USB adapter unplugged, simulator gone)
marks the transport disconnected and is reopened with bounded back-off, so a port that comes back is
used again without anyone restarting the lane.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
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
        native: bool | None = None,
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
        self.native = _native_capable(url) if native is None else native
        """True: the loop watches the port's file descriptor; False: a reader thread (see module doc)."""
        self._task: asyncio.Task[None] | None = None
        self._fd: int | None = None
        self._lost = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle
    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def started(self) -> bool:
        return self._thread is not None or self._task is not None

    async def start(self) -> None:
        """Start reading. Never raises if the port is absent: it keeps trying to open it."""
        if self.started:
            return
        self._loop = asyncio.get_running_loop()
        self._stopping.clear()
        if self.native:
            self._task = self._loop.create_task(self._supervise(), name=f"serial-{self.name}")
            return
        self._thread = threading.Thread(target=self._run, name=f"serial-{self.name}", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Stop reading, close the port. Safe to call twice."""
        task = self._task
        if task is not None:
            self._stopping.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._task = None
            self._unwatch()
            self._close_port()
            self._set_connected(False)
            return
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
        if self._fd is not None:
            await self._write_native(self._fd, bytes(data))
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self._write_blocking, port, bytes(data))
        except (serial.SerialException, OSError) as exc:
            self._handle_port_error(exc)
            raise DeviceOffline(self.name, f"write failed: {exc}") from exc

    async def _write_native(self, fd: int, data: bytes, timeout: float = 2.0) -> None:
        """Non-blocking write on the loop; waits for the kernel buffer only when it is full (never for
        a lane's short frames). No ``tcdrain``: the UART sends what the kernel holds."""
        loop = asyncio.get_running_loop()
        view = memoryview(data)
        deadline = loop.time() + timeout
        while view:
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                n = 0
            except OSError as exc:
                self._port_lost(exc)
                raise DeviceOffline(self.name, f"write failed: {exc}") from exc
            view = view[n:]
            if not view:
                return
            writable = loop.create_future()
            loop.add_writer(fd, _resolve, writable)
            try:
                async with asyncio.timeout(max(0.0, deadline - loop.time())):
                    await writable
            except TimeoutError:
                raise DeviceTimeout(self.name, f"write of {len(data)} bytes not done within {timeout:.1f}s") from None
            finally:
                loop.remove_writer(fd)

    @staticmethod
    def _write_blocking(port: serial.SerialBase, data: bytes) -> None:
        port.write(data)
        port.flush()

    def reset_input(self) -> int:
        """Drop buffered bytes (stale replies) before starting a new exchange; returns how many: on a
        polled line every one of them came without being asked for."""
        dropped = len(self._buffer)
        self._buffer.clear()
        self._data_event.clear()
        return dropped

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

    # ------------------------------------------------------------------ native: the loop watches the fd
    async def _supervise(self) -> None:
        """Open the port, watch it until it is lost, reopen with bounded back-off; until stopped."""
        loop = asyncio.get_running_loop()
        backoff = self.reopen_min
        while not self._stopping.is_set():
            # opening a USB adapter can take a moment: not on the loop
            port = await loop.run_in_executor(None, self._open)
            fd = _fileno(port) if port is not None else None
            if port is None or fd is None:
                if port is not None:  # no descriptor after all: this URL needs the thread
                    self._close_port()
                    log.warning("serial %s: %s has no file descriptor; use a reader thread", self.name, self.url)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.reopen_max)
                continue
            backoff = self.reopen_min
            os.set_blocking(fd, False)
            self._fd = fd
            self._lost.clear()
            loop.add_reader(fd, self._readable, fd)
            self._set_connected(True)
            await self._lost.wait()
            self._unwatch()
            self._close_port()
            self._set_connected(False)
            if not self._stopping.is_set():
                await asyncio.sleep(backoff)

    def _readable(self, fd: int) -> None:
        try:
            data = os.read(fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # EIO: the other end of a pty closed, or the adapter was pulled
            self._port_lost(exc)
            return
        if not data:
            self._port_lost(EOFError("end of file"))
            return
        self._on_data(data)

    def _port_lost(self, exc: BaseException) -> None:
        if self._fd is None:
            return
        if not self._stopping.is_set():
            log.warning("serial %s: port lost (%s); will reopen", self.name, exc)
        self._unwatch()
        self._lost.set()

    def _unwatch(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(fd)

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
        if self._task is not None:
            self._port_lost(exc)
            return
        with self._port_lock:
            port = self._port
        if port is not None:
            try:
                port.cancel_read()
            except Exception:
                pass


def _native_capable(url: str) -> bool:
    """A device path on POSIX: the loop can watch its descriptor. URLs (``loop://`` ...) cannot."""
    return os.name == "posix" and "://" not in url


def _fileno(port: serial.SerialBase) -> int | None:
    try:
        fd = port.fileno()
    except Exception:  # URL handlers without a descriptor raise various errors
        return None
    return fd if isinstance(fd, int) and fd >= 0 else None


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
