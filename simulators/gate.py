"""Simulated barrier gate on RS-485, and ``lajur sim gate``.

:class:`SerialGateSimulator` answers frames for a :class:`simulators.gate_model.GateModel` (the boom and
its loops) with the same codec the driver uses, on a pseudo-terminal it creates (or on a given port), so
a driver test exercises real termios, real bytes and real timing. The MQTT front-end of the same model
is ``simulators/mqtt_gate.py``.
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
from lane.errors import ConfigError, GateSafetyError, ProtocolError
from simulators.faults import check_fault
from simulators.gate_model import BOOM_FAULTS, GateModel
from simulators.ledger import Ledger
from simulators.pty import PseudoTerminal

if TYPE_CHECKING:
    from simulators.mqtt_gate import MqttGateSimulator

log = logging.getLogger(__name__)

SERIAL_GATE_FAULTS = BOOM_FAULTS | {"offline", "noise"}
"""``offline`` (the gate answers nothing) and ``noise`` (corrupted replies) are the RS-485 line's."""


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
                codec.StatusReply(model.wire_position(), status.presence_loop, status.safety_loop, status.faults,
                                  status.passages),
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
