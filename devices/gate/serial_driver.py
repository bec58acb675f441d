"""Serial (RS-485) barrier gate driver: polls the gate's status and sends its commands.

Implements :class:`lane.ports.BarrierGate`. The gate is a polled slave: it speaks only when asked, so
the driver owns the line's rhythm. Polls and commands take ``transport.lock`` for a whole exchange,
so a command never reads a poll's reply (and gates sharing one RS-485 bus never talk over each other).
Availability is a state: after ``missed_polls_offline`` unanswered polls the gate is offline and
listeners hear it; the first valid reply brings it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace

from devices.gate import codec
from devices.transport.serial import SerialTransport
from lane.errors import DeviceError, DeviceFault, DeviceOffline, DeviceTimeout, GateSafetyError, ProtocolError
from lane.ports import GatePosition, GateStatus, Listener

log = logging.getLogger(__name__)


class SerialBarrierGate:
    """A barrier gate behind a :class:`SerialTransport`, addressed by its RS-485 ``address``."""

    def __init__(
        self,
        name: str,
        transport: SerialTransport,
        *,
        address: int = 1,
        poll_interval: float = 0.1,
        missed_polls_offline: int = 3,
        reply_timeout: float = 0.2,
        command_timeout: float = 0.5,
        owns_transport: bool = True,
    ) -> None:
        if not 1 <= address <= codec.MAX_ADDRESS:
            raise ValueError(f"gate address must be 1..{codec.MAX_ADDRESS}")
        self.name = name
        self.transport = transport
        self.address = address
        self.poll_interval = poll_interval
        self.missed_polls_offline = missed_polls_offline
        self.reply_timeout = reply_timeout
        self.command_timeout = command_timeout
        self.owns_transport = owns_transport
        self.decoder = codec.FrameDecoder(name, accept=codec.is_reply)
        self.missed_polls = 0
        self.protocol_errors = 0
        self._status = GateStatus()
        self._listeners: list[Listener] = []
        self._poll_task: asyncio.Task[None] | None = None
        self._poll_now = asyncio.Event()
        self._first_poll = asyncio.Event()

    # ------------------------------------------------------------------ port
    @property
    def status(self) -> GateStatus:
        return self._status

    @property
    def online(self) -> bool:
        return self._status.online

    async def start(self) -> None:
        """Start the transport and polling; waits briefly for a first status, never raises if absent."""
        if self._poll_task is not None:
            return
        await self.transport.start()
        self._first_poll.clear()
        self._poll_task = asyncio.create_task(self._poll_loop(), name=f"{self.name}-poll")
        settle = self.reply_timeout * self.missed_polls_offline + 0.5
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settle):
                await self._first_poll.wait()

    async def stop(self) -> None:
        task, self._poll_task = self._poll_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.owns_transport:
            await self.transport.stop()
        self._update(replace(self._status, online=False))

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    async def open(self) -> None:
        await self._command(codec.Command.OPEN)

    async def close(self) -> None:
        """Refuse locally, without a byte on the line, while the last known safety loop is occupied."""
        if self._status.safety_loop:
            raise GateSafetyError(self.name, "close refused: safety loop occupied", fault="safety_loop_occupied")
        await self._command(codec.Command.CLOSE)

    async def stop_motion(self) -> None:
        await self._command(codec.Command.STOP)

    async def set_auto_close(self, seconds: int) -> None:
        """Let the gate lower the boom by itself ``seconds`` after it is open (0 = never)."""
        await self._command(codec.Command.AUTO_CLOSE, bytes([seconds]))

    # ------------------------------------------------------------------ commands
    async def _command(self, command: codec.Command, data: bytes = b"") -> None:
        if not self.online:
            raise DeviceOffline(self.name, f"{command.name} not sent: gate offline")
        reply = await self._exchange(command, data, self.command_timeout)
        self._poll_now.set()  # show the effect (opening/closing) without waiting a full period
        if isinstance(reply, codec.Ack):
            return
        assert isinstance(reply, codec.Nak)
        if reply.reason is codec.NakReason.SAFETY_OCCUPIED:
            raise GateSafetyError(self.name, f"{command.name} refused by gate: safety loop occupied",
                                  fault="safety_loop_occupied")
        if reply.reason is codec.NakReason.GATE_FAULT:
            raise DeviceFault(self.name, f"{command.name} refused: gate in fault", fault="gate_fault")
        raise DeviceError(self.name, f"{command.name} refused: {reply.reason.name}", fault=reply.reason.name.lower())

    async def _exchange(self, command: codec.Command, data: bytes, timeout: float) -> codec.Reply:
        """Send one frame and wait for its reply; DeviceTimeout/DeviceOffline otherwise."""
        frame = codec.encode_frame(codec.Frame(self.address, command, data))
        loop = asyncio.get_running_loop()
        async with self.transport.lock:
            self.transport.reset_input()
            self.decoder.reset()
            await self.transport.write(frame)
            deadline = loop.time() + timeout
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise DeviceTimeout(self.name, f"no reply to {command.name} within {timeout:.2f}s")
                try:
                    chunk = await self.transport.read_some(timeout=remaining)
                except DeviceTimeout:
                    raise DeviceTimeout(self.name, f"no reply to {command.name} within {timeout:.2f}s") from None
                for reply_frame in self.decoder.feed(chunk):
                    reply = self._match(command, reply_frame)
                    if reply is not None:
                        return reply

    def _match(self, command: codec.Command, frame: codec.Frame) -> codec.Reply | None:
        if frame.addr != self.address:
            return None  # another device on the bus
        try:
            reply = codec.decode_reply(frame)
        except ProtocolError as exc:
            self.protocol_errors += 1
            log.warning("%s: unusable reply %s: %s", self.name, codec.encode_frame(frame).hex(" "), exc)
            return None
        if command is codec.Command.STATUS:
            return reply if isinstance(reply, codec.StatusReply) else None
        if isinstance(reply, codec.Ack | codec.Nak) and reply.command == command:
            return reply
        return None

    # ------------------------------------------------------------------ polling
    async def _poll_loop(self) -> None:
        while True:
            try:
                reply = await self._exchange(codec.Command.STATUS, b"", self.reply_timeout)
            except (DeviceTimeout, DeviceOffline) as exc:
                self._missed(exc)
            except Exception:
                log.exception("%s: poll failed", self.name)
                self._missed(None)
            else:
                assert isinstance(reply, codec.StatusReply)
                self.missed_polls = 0
                self._update(self._status_from(reply))
                self._first_poll.set()
            # the next poll after the period, or at once when a command asks (_poll_now); a timer
            # that sets the event rather than a timeout that cancels the wait: this runs 30 times a
            # second per gate, and a cancellation is an exception with a traceback to collect
            self._poll_now.clear()
            timer = asyncio.get_running_loop().call_later(self.poll_interval, self._poll_now.set)
            try:
                await self._poll_now.wait()
            finally:
                timer.cancel()

    def _missed(self, exc: BaseException | None) -> None:
        self.missed_polls += 1
        if self.missed_polls >= self.missed_polls_offline and self._status.online:
            log.warning("%s: offline after %d missed polls (%s)", self.name, self.missed_polls, exc)
            self._update(replace(self._status, online=False))
            self._first_poll.set()

    @staticmethod
    def _status_from(reply: codec.StatusReply) -> GateStatus:
        position = codec.WIRE_TO_POSITION.get(reply.position, GatePosition.UNKNOWN)
        return GateStatus(position, reply.presence, reply.safety, reply.faults, online=True)

    def _update(self, status: GateStatus) -> None:
        if status == self._status:
            return
        self._status = status
        for listener in list(self._listeners):
            try:
                listener(status)
            except Exception:
                log.exception("%s: listener failed", self.name)
