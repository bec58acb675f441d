"""The device end of a serial line for the serial simulators (gate, card printer, receipt printer)."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import tty
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class PseudoTerminal:
    """The device end of a serial line for simulators: a pty it creates, or a given port.

    For a pty, the simulator keeps the slave open itself (in raw mode) so reads of the master never
    fail with EIO while no driver has the port open, and a driver may close and reopen it freely.
    """

    def __init__(self, port: str | None = None, *, baudrate: int = 9600) -> None:
        self.requested_port = port
        self.baudrate = baudrate
        self.port_path: str | None = None
        self._fd: int | None = None
        self._slave_fd: int | None = None
        self._serial: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def open(self, on_data: Callable[[bytes], None]) -> str:
        if self.requested_port is None:
            master, slave = os.openpty()
            tty.setraw(slave)
            self._fd, self._slave_fd = master, slave
            self.port_path = os.ttyname(slave)
        else:
            import serial  # only technicians' runs on a real port need it here

            self._serial = serial.serial_for_url(self.requested_port, baudrate=self.baudrate, timeout=0)
            self._fd = self._serial.fileno()
            self.port_path = self.requested_port
        os.set_blocking(self._fd, False)
        self._loop = asyncio.get_running_loop()
        fd = self._fd

        def readable() -> None:
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno != errno.EIO:
                    log.warning("simulator port %s: read error %s", self.port_path, exc)
                return
            if data:
                on_data(data)

        self._loop.add_reader(fd, readable)
        return self.port_path

    def write(self, data: bytes) -> None:
        if self._fd is None:
            return
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._fd, view)
            except BlockingIOError:
                log.warning("simulator port %s: output full, %d byte(s) dropped", self.port_path, len(view))
                return
            except OSError as exc:
                log.warning("simulator port %s: write error %s", self.port_path, exc)
                return
            view = view[written:]

    def close(self) -> None:
        if self._fd is not None and self._loop is not None:
            self._loop.remove_reader(self._fd)
        if self._serial is not None:
            self._serial.close()
        elif self._fd is not None:
            os.close(self._fd)
        if self._slave_fd is not None:
            os.close(self._slave_fd)
        self._fd = self._slave_fd = self._serial = None
