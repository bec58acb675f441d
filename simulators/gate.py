"""Simulated barrier gate: the physical boom and loops (:class:`GateModel`) and its RS-485 front-end.

The model knows nothing of wires, so either front-end drives the same boom. The serial front-end
(:class:`SerialGateSimulator`) answers frames with the same codec the driver uses, on a pseudo-terminal
it creates (or on a given port), so a driver test exercises real termios, real bytes and real timing.
The MQTT front-end (:class:`MqttGateSimulator`) publishes the model's status as retained state and
events and takes commands, with the codec of ``devices/gate/mqtt_codec.py``.

The ledger records what the boom physically did (``gate_opened`` / ``gate_closed`` with both loops):
it is the ground truth for "never closed on a vehicle".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import os
import random
import sys
import tty
from collections.abc import Awaitable, Callable
from typing import Any

from devices import mqtt_codec
from devices.gate import codec
from devices.gate import mqtt_codec as mqtt_gate
from devices.mqtt_codec import Topics
from devices.mqtt_device import CommandRejected, MqttDeviceSimulator
from devices.transport.mqtt import MqttClient
from lane.clock import Clock, SystemClock
from lane.errors import GateSafetyError, ProtocolError
from lane.ports import GatePosition, GateStatus
from simulators.ledger import Ledger

log = logging.getLogger(__name__)

GATE_FAULTS = frozenset({"stuck", "slow", "loop_stuck", "offline", "noise"})
SLOW_FACTOR = 3.0


class GateModel:
    """The boom, its motor and its two loops, timed on an injected clock.

    Behaves like a real gate where it matters for safety: it refuses to close while the safety loop
    is occupied, and reverses to opening if the safety loop becomes occupied while it is closing.
    """

    def __init__(
        self,
        name: str = "entry-gate",
        lane: str = "lane-1",
        clock: Clock | None = None,
        open_seconds: float = 2.0,
        close_seconds: float = 2.0,
        ledger: Ledger | None = None,
    ) -> None:
        self.name = name
        self.lane = lane
        self.clock: Clock = clock or SystemClock()
        self.open_seconds = open_seconds
        self.close_seconds = close_seconds
        self.ledger = ledger
        self.auto_close_seconds = 0
        self.injected: set[str] = set()
        self._position = GatePosition.CLOSED
        self._halted = False
        self._presence = False
        self._safety = False
        self._reported: set[str] = set()
        self._motion: asyncio.Task[None] | None = None
        self._motion_started = 0.0
        self._motion_duration = 0.0
        self._auto_close: asyncio.Task[None] | None = None
        self._rest_position = GatePosition.CLOSED
        self._listeners: list[Callable[[GateStatus], None]] = []
        self._last_status = self.status

    # ------------------------------------------------------------------ state
    @property
    def position(self) -> GatePosition:
        return self._position

    @property
    def halted(self) -> bool:
        """True when a stop command left the boom between its end positions."""
        return self._halted

    @property
    def safety_occupied(self) -> bool:
        return self._safety or "loop_stuck" in self.injected

    @property
    def status(self) -> GateStatus:
        position = GatePosition.UNKNOWN if self._halted else self._position
        return GateStatus(
            position=position,
            presence_loop=self._presence,
            safety_loop=self.safety_occupied,
            faults=frozenset(self._reported),
            online="offline" not in self.injected,
        )

    def wire_position(self) -> codec.WirePosition:
        if self._halted:
            return codec.WirePosition.HALTED
        return codec.WirePosition[self._position.name]

    def add_listener(self, listener: Callable[[GateStatus], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # ------------------------------------------------------------------ commands
    def command_open(self) -> None:
        if self._position in (GatePosition.OPEN, GatePosition.OPENING) and not self._halted:
            return
        self._cancel_auto_close()
        if self._begin_stuck_check():
            return
        fraction = self._travelled_fraction(GatePosition.CLOSING) if self._position is GatePosition.CLOSING else 1.0
        self._move(GatePosition.OPENING, GatePosition.OPEN, self.open_seconds * fraction)

    def command_close(self) -> None:
        if self.safety_occupied:
            raise GateSafetyError(self.name, "close refused: safety loop occupied", fault="safety_loop_occupied")
        if self._position in (GatePosition.CLOSED, GatePosition.CLOSING) and not self._halted:
            return
        self._cancel_auto_close()
        if self._begin_stuck_check():
            return
        self._move(GatePosition.CLOSING, GatePosition.CLOSED, self.close_seconds)

    def command_stop(self) -> None:
        self._cancel_auto_close()
        if self._motion is not None and not self._motion.done():
            self._cancel_motion()
            self._halted = True
            self._changed()

    def set_auto_close(self, seconds: int) -> None:
        self.auto_close_seconds = max(0, int(seconds))
        if self.auto_close_seconds == 0:
            self._cancel_auto_close()
        elif self._position is GatePosition.OPEN and not self._halted:
            self._schedule_auto_close()

    # ------------------------------------------------------------------ loops (traffic simulator)
    def set_presence(self, occupied: bool) -> None:
        self._presence = occupied
        self._changed()

    def set_safety(self, occupied: bool) -> None:
        self._safety = occupied
        if occupied and self._position is GatePosition.CLOSING and self._motion is not None:
            log.info("%s: safety loop occupied while closing: reversing", self.name)
            self._reverse()
        self._changed()

    # ------------------------------------------------------------------ faults
    def inject_fault(self, name: str) -> None:
        if name not in GATE_FAULTS:
            raise ValueError(f"unknown gate fault {name!r}; one of {sorted(GATE_FAULTS)}")
        self.injected.add(name)
        if name == "loop_stuck":
            self._reported.add("loop_fault")
            if self._position is GatePosition.CLOSING:
                self._reverse()
        if name == "stuck" and self._motion is not None and not self._motion.done():
            self._cancel_motion()
            self._fault("stuck")
        self._changed()

    def clear_fault(self, name: str) -> None:
        self.injected.discard(name)
        if name == "loop_stuck":
            self._reported.discard("loop_fault")
        if name == "stuck":
            self._reported.discard("stuck")
            if self._position is GatePosition.FAULT:
                self._position = self._rest_position
        self._changed()

    async def aclose(self) -> None:
        """Cancel running motion/auto-close tasks (end of a test or a run)."""
        for task in (self._motion, self._auto_close):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # ------------------------------------------------------------------ internals
    def _move(self, moving: GatePosition, target: GatePosition, seconds: float) -> None:
        self._cancel_motion()
        self._halted = False
        if "slow" in self.injected:
            seconds *= SLOW_FACTOR
        self._position = moving
        self._motion_started = self.clock.monotonic()
        self._motion_duration = seconds
        self._motion = asyncio.get_running_loop().create_task(self._travel(target, seconds))
        self._changed()

    async def _travel(self, target: GatePosition, seconds: float) -> None:
        await self.clock.sleep(seconds)
        self._motion = None
        self._position = target
        self._rest_position = target
        effect = "gate_opened" if target is GatePosition.OPEN else "gate_closed"
        if self.ledger is not None:
            self.ledger.record(
                self.lane, self.name, effect,
                safety_loop_occupied=self.safety_occupied, presence_loop_occupied=self._presence,
            )
        self._changed()
        if target is GatePosition.OPEN and self.auto_close_seconds:
            self._schedule_auto_close()

    def _travelled_fraction(self, moving: GatePosition) -> float:
        if self._motion is None or self._position is not moving or self._motion_duration <= 0:
            return 1.0
        elapsed = self.clock.monotonic() - self._motion_started
        return min(1.0, max(0.05, elapsed / self._motion_duration))

    def _reverse(self) -> None:
        fraction = self._travelled_fraction(GatePosition.CLOSING)
        self._move(GatePosition.OPENING, GatePosition.OPEN, self.open_seconds * fraction)

    def _begin_stuck_check(self) -> bool:
        """A stuck boom does not move; the controller board notices after one travel time."""
        if "stuck" not in self.injected:
            return False
        self._cancel_motion()

        async def detect() -> None:
            await self.clock.sleep(max(self.open_seconds, self.close_seconds))
            self._motion = None
            self._fault("stuck")

        self._motion = asyncio.get_running_loop().create_task(detect())
        return True

    def _fault(self, name: str) -> None:
        self._reported.add(name)
        self._position = GatePosition.FAULT
        self._halted = False
        self._changed()

    def _cancel_motion(self) -> None:
        task, self._motion = self._motion, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    def _schedule_auto_close(self) -> None:
        self._cancel_auto_close()

        async def auto_close() -> None:
            await self.clock.sleep(self.auto_close_seconds)
            while self.safety_occupied:  # a real gate waits for the vehicle to clear the boom
                await self.clock.sleep(0.1)
            self._auto_close = None
            if self._position is GatePosition.OPEN:
                self.command_close()

        self._auto_close = asyncio.get_running_loop().create_task(auto_close())

    def _cancel_auto_close(self) -> None:
        task, self._auto_close = self._auto_close, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    def _changed(self) -> None:
        status = self.status
        if status == self._last_status:
            return
        self._last_status = status
        for listener in list(self._listeners):
            try:
                listener(status)
            except Exception:
                log.exception("%s: listener failed", self.name)


# ---------------------------------------------------------------------- pseudo-terminal endpoint
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


# ---------------------------------------------------------------------- serial front-end
class SerialGateSimulator:
    """Answers the gate protocol for one :class:`GateModel` at ``address``.

    Faults of the line live here: ``offline`` (the model is injected with it) makes it silent,
    ``noise`` corrupts replies with random bytes and bit flips.
    """

    def __init__(self, model: GateModel, port: str | None = None, address: int = 1, *, seed: int | None = None) -> None:
        self.model = model
        self.address = address
        self.endpoint = PseudoTerminal(port)
        self.decoder = codec.FrameDecoder(f"sim-{model.name}")  # unknown commands get a NAK, so no filter
        self.received: list[codec.Frame] = []
        self._rng = random.Random(seed)

    @property
    def port_path(self) -> str:
        if self.endpoint.port_path is None:
            raise RuntimeError("simulator not started")
        return self.endpoint.port_path

    async def start(self) -> None:
        path = self.endpoint.open(self._on_data)
        log.info("gate simulator %s on %s (address %d)", self.model.name, path, self.address)

    async def stop(self) -> None:
        self.endpoint.close()
        await self.model.aclose()

    def _on_data(self, data: bytes) -> None:
        for frame in self.decoder.feed(data):
            if frame.addr != self.address:
                continue
            self.received.append(frame)
            if "offline" in self.model.injected:
                continue
            reply = self.handle(frame)
            if reply is not None:
                self.endpoint.write(self._maybe_corrupt(reply))

    def handle(self, frame: codec.Frame) -> bytes | None:
        """The gate's answer to one command frame addressed to it."""
        try:
            command, data = codec.decode_command(frame)
        except ProtocolError as exc:
            log.info("gate simulator: %s", exc)
            return codec.encode_nak(self.address, frame.cmd, codec.NakReason.UNKNOWN_COMMAND)
        model = self.model
        if command is codec.Command.STATUS:
            status = model.status
            return codec.encode_status_reply(
                self.address,
                codec.StatusReply(model.wire_position(), status.presence_loop, status.safety_loop, status.faults),
            )
        try:
            if command is codec.Command.OPEN:
                model.command_open()
            elif command is codec.Command.CLOSE:
                model.command_close()
            elif command is codec.Command.STOP:
                model.command_stop()
            elif command is codec.Command.AUTO_CLOSE:
                model.set_auto_close(data[0])
        except GateSafetyError:
            return codec.encode_nak(self.address, command, codec.NakReason.SAFETY_OCCUPIED)
        return codec.encode_ack(self.address, command)

    def _maybe_corrupt(self, reply: bytes) -> bytes:
        if "noise" not in self.model.injected:
            return reply
        rng = self._rng
        choice = rng.random()
        if choice < 0.4:  # bit flip somewhere in the frame
            corrupted = bytearray(reply)
            corrupted[rng.randrange(len(corrupted))] ^= 1 << rng.randrange(8)
            return bytes(corrupted)
        if choice < 0.7:  # line noise before the frame
            return rng.randbytes(rng.randint(1, 12)) + reply
        return reply + rng.randbytes(rng.randint(1, 6))


# ---------------------------------------------------------------------- MQTT front-end
MQTT_GATE_FAULTS = frozenset({"stuck", "slow", "loop_stuck", "offline", "timeout"})
"""``noise`` is a serial line fault; ``timeout`` (commands silently ignored) is MQTT's."""


class MqttGateSimulator(MqttDeviceSimulator):
    """One :class:`GateModel` on the broker: retained state from the model, commands into it.

    Like the real gate it refuses ``close`` while the safety loop is occupied (ack error
    ``safety_loop_occupied``). While the ``offline`` fault is active it publishes nothing.
    """

    faults_supported = MQTT_GATE_FAULTS

    def __init__(self, model: GateModel, client: MqttClient, topics: Topics) -> None:
        super().__init__(client, topics, clock=model.clock, lane=model.lane, name=model.name)
        self.model = model
        self._last = model.status
        self._remove_listener: Callable[[], None] | None = None
        self._publishing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._last = self.model.status
        self._state = mqtt_gate.state_fields(self._last, self.model.auto_close_seconds)
        self._remove_listener = self.model.add_listener(self._on_model)
        await super().start()

    async def stop(self) -> None:
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        await super().stop()
        await self.model.aclose()

    async def set_fault(self, fault: str, active: bool = True) -> None:
        await super().set_fault(fault, active)  # validates the name, handles offline/timeout
        if fault in GATE_FAULTS:
            (self.model.inject_fault if active else self.model.clear_fault)(fault)

    async def handle_command(self, cmd: dict[str, Any]) -> None:
        if cmd["op"] not in mqtt_gate.OPS:
            raise CommandRejected(f"unknown op {cmd['op']!r}")
        op, seconds = mqtt_gate.parse_command(cmd)
        model = self.model
        try:
            if op == mqtt_gate.OP_OPEN:
                model.command_open()
            elif op == mqtt_gate.OP_CLOSE:
                model.command_close()
            elif op == mqtt_gate.OP_STOP:
                model.command_stop()
            else:
                model.set_auto_close(seconds or 0)
                self._on_model(model.status)  # auto_close is in the state, the model does not report it
        except GateSafetyError:
            raise CommandRejected(mqtt_gate.ERROR_SAFETY) from None
        if self._publishing is not None:  # the new state goes out before the ack
            await asyncio.shield(self._publishing)

    def _on_model(self, status: GateStatus) -> None:
        before, self._last = self._last, status
        fields = mqtt_gate.state_fields(status, self.model.auto_close_seconds)
        if fields == self._state:
            return
        self._state = fields  # re-published by _announce when the offline fault ends
        if "offline" in self.faults:
            return
        self._publishing = self.spawn(self._publish(fields, mqtt_gate.status_events(before, status)))

    async def _publish(self, fields: dict[str, Any], events: list[dict[str, Any]]) -> None:
        await self.client.publish(self.topics.state, mqtt_codec.encode(fields), qos=1, retain=True)
        for body in events:
            await self.publish_event(body.pop("type"), **body)


# ---------------------------------------------------------------------- standalone
def main(argv: list[str] | None = None) -> int:
    """``lajur sim gate [--port P | --transport mqtt --mqtt URL] [--fault F]``: print where the gate
    listens and serve until Ctrl-C."""
    from devices.mqtt_device import simulator_client
    from simulators.standalone import FaultControl, add_control_arguments, start_control, wait_until_stopped

    parser = argparse.ArgumentParser(
        prog="lajur sim gate", description="Barrier gate simulator: RS-485 on a pseudo-terminal (default) or "
                                           "MQTT on a broker. Loops are set with 'presence on|off' / "
                                           "'safety on|off' on stdin.",
        epilog="faults: serial " + ", ".join(sorted(GATE_FAULTS)) + "; mqtt " + ", ".join(sorted(MQTT_GATE_FAULTS)))
    parser.add_argument("--transport", choices=("serial", "mqtt"), default="serial")
    parser.add_argument("--port", help="serial: serve on this port instead of a new pseudo-terminal")
    parser.add_argument("--address", type=int, default=1, help="serial: RS-485 address")
    parser.add_argument("--fault", action="append", default=[], choices=sorted(GATE_FAULTS | MQTT_GATE_FAULTS),
                        help="start with this fault (repeatable)")
    parser.add_argument("--open-seconds", type=float, default=2.0)
    parser.add_argument("--ledger", help="append physical effects to this JSON-lines file")
    add_control_arguments(parser, "entry-gate")
    args = parser.parse_args(argv)
    if args.transport == "mqtt" and not args.mqtt:
        parser.error("--transport mqtt needs --mqtt URL")
    faults = MQTT_GATE_FAULTS if args.transport == "mqtt" else GATE_FAULTS
    for fault in args.fault:
        if fault not in faults:
            parser.error(f"fault {fault!r} is not a {args.transport} gate fault")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    async def run() -> None:
        model = GateModel(name=args.device, lane=args.lane, open_seconds=args.open_seconds,
                          close_seconds=args.open_seconds, ledger=Ledger(args.ledger) if args.ledger else None)
        model.add_listener(lambda status: print(f"gate: {status}", flush=True))
        stoppers: list[Callable[[], Awaitable[None]]] = []
        if args.transport == "mqtt":
            topics = Topics(args.site, args.lane, args.device)
            client = simulator_client(args.mqtt, topics)
            sim = MqttGateSimulator(model, client, topics)
            await client.start()
            for fault in args.fault:
                await sim.set_fault(fault, True)
            await sim.start()
            print(f"{args.device} simulator on {args.mqtt} at {topics.root}/#", flush=True)
            print(f"  cmd {topics.cmd}  state {topics.state}  event {topics.event}", flush=True)
            print(f"  control {topics.control}  (faults: {', '.join(sorted(MQTT_GATE_FAULTS))})", flush=True)
            control = FaultControl(args.device, MQTT_GATE_FAULTS,
                                   lambda f: sim.spawn(sim.set_fault(f, True)),
                                   lambda f: sim.spawn(sim.set_fault(f, False)), lambda: sim.faults)
            control.start_stdin()
            stoppers += [control.stop, sim.stop, client.stop]
        else:
            for fault in args.fault:
                model.inject_fault(fault)
            serial_sim = SerialGateSimulator(model, args.port, args.address)
            await serial_sim.start()
            print(f"{args.device} simulator on {serial_sim.port_path} (RS-485 address {args.address})", flush=True)
            control = FaultControl(args.device, GATE_FAULTS, model.inject_fault, model.clear_fault,
                                   lambda: model.injected)
            await start_control(control, args)
            if args.mqtt:
                control.start_stdin()
            stoppers += [control.stop, serial_sim.stop]

        def loops(words: list[str]) -> str | None:
            """A technician plays the vehicle: ``presence on``, ``safety off``."""
            if len(words) == 2 and words[0] in ("presence", "safety") and words[1] in ("on", "off"):
                (model.set_presence if words[0] == "presence" else model.set_safety)(words[1] == "on")
                return f"{words[0]} loop {'occupied' if words[1] == 'on' else 'clear'}"
            return None

        control.extra = loops
        print("  loops on stdin: presence on|off, safety on|off", flush=True)
        try:
            await wait_until_stopped()
        finally:
            for stop in stoppers:
                await stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
