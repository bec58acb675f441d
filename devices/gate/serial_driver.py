"""Serial (RS-485) barrier gate driver: polls the gate's status and sends its commands.

Implements :class:`lane.ports.BarrierGate` on :class:`devices.serial_device.PolledSerialDevice`, which
owns the line's rhythm (poll period, reply timeout, offline after missed polls, one exchange at a
time). The gate believes only what it asked for: in a command's exchange only the ACK/NAK of that
command counts, in a poll only a status; any other frame from its address is refused and counted.
"""

from __future__ import annotations

import logging

from devices.gate import codec
from devices.refusals import WRONG_ANSWER
from devices.serial_device import PolledSerialDevice
from devices.transport.serial import SerialTransport
from lane.errors import DeviceError, DeviceFault, DeviceOffline, GateSafetyError, ProtocolError
from lane.ports import GatePosition, GateStatus

log = logging.getLogger(__name__)


class SerialBarrierGate(PolledSerialDevice[GateStatus]):
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
        super().__init__(name, transport, GateStatus(), poll_interval=poll_interval, reply_timeout=reply_timeout,
                         missed_polls_offline=missed_polls_offline, owns_transport=owns_transport)
        self.address = address
        self.command_timeout = command_timeout
        self.decoder = codec.FrameDecoder(name, accept=codec.is_reply)

    # ------------------------------------------------------------------ port
    @property
    def status(self) -> GateStatus:
        return self._status

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

    # ------------------------------------------------------------------ PolledSerialDevice
    async def poll(self) -> GateStatus:
        reply = await self._exchange(codec.Command.STATUS, b"", self.reply_timeout)
        assert isinstance(reply, codec.StatusReply)
        position = codec.WIRE_TO_POSITION.get(reply.position, GatePosition.UNKNOWN)
        return GateStatus(position, reply.presence, reply.safety, reply.faults, online=True, passages=reply.passages)

    def offline_status(self, last: GateStatus) -> GateStatus:
        return GateStatus(last.position, last.presence_loop, last.safety_loop, last.faults, online=False,
                          passages=last.passages)

    def is_online(self, status: GateStatus) -> bool:
        return status.online

    # ------------------------------------------------------------------ commands
    async def _command(self, command: codec.Command, data: bytes = b"") -> None:
        if not self.online:
            raise DeviceOffline(self.name, f"{command.name} not sent: gate offline")
        reply = await self._exchange(command, data, self.command_timeout)
        self.poll_soon()  # show the effect (opening/closing) without waiting a full period
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

        def recognise(chunk: bytes) -> codec.Reply | None:
            for reply_frame in self.decoder.feed(chunk):
                reply = self._match(command, reply_frame)
                if reply is not None:
                    return reply
            return None

        async with self.exchange():
            self.decoder.reset()
            await self.transport.write(frame)
            return await self.read_reply(recognise, command.name, timeout)

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
            if isinstance(reply, codec.StatusReply):
                return reply
        elif isinstance(reply, codec.Ack | codec.Nak) and reply.command == command:
            return reply
        self.refusals.refuse(WRONG_ANSWER, f"{type(reply).__name__} while waiting for {command.name}")
        return None
