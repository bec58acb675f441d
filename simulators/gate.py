"""Simulated barrier gate: the physical boom and loops (:class:`GateModel`) and its RS-485 front-end.

The model knows nothing of wires, so either front-end drives the same boom. The serial front-end
(:class:`SerialGateSimulator`) answers frames with the same codec the driver uses, on a pseudo-terminal
it creates (or on a given port), so a driver test exercises real termios, real bytes and real timing.
The MQTT front-end is ``simulators/mqtt_gate.py``.

The ledger records what the boom physically did (``gate_opened`` / ``gate_closed`` with both loops):
it is the ground truth for "never closed on a vehicle".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from devices.gate import codec
from devices.mqtt_codec import Topics
from lane.clock import Clock, SystemClock
from lane.errors import ConfigError, GateSafetyError, ProtocolError
from lane.ports import GatePosition, GateStatus
from simulators.faults import check_fault
from simulators.ledger import Ledger
from simulators.pty import PseudoTerminal

if TYPE_CHECKING:
    from simulators.mqtt_gate import MqttGateSimulator

log = logging.getLogger(__name__)

BOOM_FAULTS = frozenset({"stuck", "slow", "loop_stuck"})
"""What can go wrong with the boom and its loops, whatever the wire: the model plays these."""
SERIAL_GATE_FAULTS = BOOM_FAULTS | {"offline", "noise"}
"""``offline`` (the gate answers nothing) and ``noise`` (corrupted replies) are the RS-485 line's."""
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
        """Boom faults in play (:data:`BOOM_FAULTS`), set by the front-end's ``inject``."""
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
            online=True,
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
    def apply_fault(self, name: str, active: bool) -> None:
        """Start or end a boom fault; technicians and tests go through the front-end's ``inject``."""
        if name not in BOOM_FAULTS:
            raise ValueError(f"{name!r} is not a boom fault ({', '.join(sorted(BOOM_FAULTS))})")
        if active:
            self._start_fault(name)
        else:
            self._end_fault(name)

    def _start_fault(self, name: str) -> None:
        self.injected.add(name)
        if name == "loop_stuck":
            self._reported.add("loop_fault")
            if self._position is GatePosition.CLOSING:
                self._reverse()
        if name == "stuck" and self._motion is not None and not self._motion.done():
            self._cancel_motion()
            self._fault("stuck")
        self._changed()

    def _end_fault(self, name: str) -> None:
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


# ---------------------------------------------------------------------- serial front-end
class SerialGateSimulator:
    """Answers the gate protocol for one :class:`GateModel` at ``address``.

    Faults (:class:`simulators.faults.FaultInjectable`): the boom's (``stuck``, ``slow``, ``loop_stuck``)
    go to the model; the line's live here: ``offline`` makes it silent, ``noise`` corrupts replies with
    random bytes and bit flips.
    """

    faults_supported = SERIAL_GATE_FAULTS

    def __init__(self, model: GateModel, port: str | None = None, address: int = 1, *, seed: int | None = None) -> None:
        self.model = model
        self.name = model.name
        self.address = address
        self.endpoint = PseudoTerminal(port)
        self.decoder = codec.FrameDecoder(f"sim-{model.name}")  # unknown commands get a NAK, so no filter
        self.received: list[codec.Frame] = []
        self.line_faults: set[str] = set()
        self._rng = random.Random(seed)

    @property
    def port_path(self) -> str:
        if self.endpoint.port_path is None:
            raise RuntimeError("simulator not started")
        return self.endpoint.port_path

    @property
    def faults(self) -> frozenset[str]:
        return frozenset(self.line_faults | self.model.injected)

    async def inject(self, fault: str, active: bool = True) -> None:
        check_fault(self, fault)
        if fault in BOOM_FAULTS:
            self.model.apply_fault(fault, active)
        elif active:
            self.line_faults.add(fault)
        else:
            self.line_faults.discard(fault)
        log.info("%s: fault %s %s", self.name, fault, "on" if active else "off")

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
            if "offline" in self.line_faults:
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
        if "noise" not in self.line_faults:
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


# ---------------------------------------------------------------------- standalone
def main(argv: list[str] | None = None) -> int:
    """``lajur sim gate [--port P | --transport mqtt --mqtt URL] [--fault F]``: print where the gate
    listens and serve until Ctrl-C."""
    from simulators.mqtt_device import simulator_client
    from simulators.mqtt_gate import MQTT_GATE_FAULTS, MqttGateSimulator
    from simulators.standalone import (
        FaultControl,
        add_control_arguments,
        device_login,
        start_control,
        wait_until_stopped,
    )

    parser = argparse.ArgumentParser(
        prog="lajur sim gate", description="Barrier gate simulator: RS-485 on a pseudo-terminal (default) or "
                                           "MQTT on a broker. Loops are set with 'presence on|off' / "
                                           "'safety on|off' on stdin.",
        epilog="faults: serial " + ", ".join(sorted(SERIAL_GATE_FAULTS)) + "; mqtt " +
               ", ".join(sorted(MQTT_GATE_FAULTS)))
    parser.add_argument("--transport", choices=("serial", "mqtt"), default="serial")
    parser.add_argument("--port", help="serial: serve on this port instead of a new pseudo-terminal")
    parser.add_argument("--address", type=int, default=1, help="serial: RS-485 address")
    parser.add_argument("--fault", action="append", default=[], choices=sorted(SERIAL_GATE_FAULTS | MQTT_GATE_FAULTS),
                        help="start with this fault (repeatable)")
    parser.add_argument("--open-seconds", type=float, default=2.0)
    parser.add_argument("--ledger", help="append physical effects to this JSON-lines file")
    add_control_arguments(parser, "entry-gate")
    args = parser.parse_args(argv)
    if args.transport == "mqtt" and not args.mqtt:
        parser.error("--transport mqtt needs --mqtt URL")
    try:
        login = device_login(args)
    except ConfigError as exc:
        parser.error(str(exc))
    faults = MQTT_GATE_FAULTS if args.transport == "mqtt" else SERIAL_GATE_FAULTS
    for fault in args.fault:
        if fault not in faults:
            parser.error(f"fault {fault!r} is not a {args.transport} gate fault")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    async def run() -> None:
        model = GateModel(name=args.device, lane=args.lane, open_seconds=args.open_seconds,
                          close_seconds=args.open_seconds, ledger=Ledger(args.ledger) if args.ledger else None)
        model.add_listener(lambda status: print(f"gate: {status}", flush=True))
        stoppers: list[Callable[[], Awaitable[None]]] = []
        sim: SerialGateSimulator | MqttGateSimulator
        if args.transport == "mqtt":
            topics = Topics(args.site, args.lane, args.device)
            client = simulator_client(args.mqtt, topics, login=login)
            sim = MqttGateSimulator(model, client, topics)
            await client.start()
            for fault in args.fault:
                await sim.inject(fault, True)
            await sim.start()
            print(f"{args.device} simulator on {args.mqtt} at {topics.root}/#", flush=True)
            print(f"  cmd {topics.cmd}  state {topics.state}  event {topics.event}", flush=True)
            print(f"  control {topics.control}  (faults: {', '.join(sorted(MQTT_GATE_FAULTS))})", flush=True)
            control = FaultControl(sim)
            control.start_stdin()
            stoppers += [control.stop, sim.stop, client.stop]
        else:
            sim = SerialGateSimulator(model, args.port, args.address)
            for fault in args.fault:
                await sim.inject(fault, True)
            await sim.start()
            print(f"{args.device} simulator on {sim.port_path} (RS-485 address {args.address})", flush=True)
            control = FaultControl(sim)
            await start_control(control, args)
            if args.mqtt:
                control.start_stdin()
            stoppers += [control.stop, sim.stop]

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
