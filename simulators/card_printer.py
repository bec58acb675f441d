"""Simulated SIM card printer on a pseudo-terminal, speaking :mod:`devices.card_printer.codec`.

Like a real retail card printer it remembers which renewal ids it printed, so a retried job is
recognised, and it takes a few (clock) seconds per card, during which it is busy. The ledger records
every card that physically came out (``card_printed``): "no second card" is checked against it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from devices.card_printer import codec
from devices.card_printer.codec import Cmd, JobState
from lane.clock import Clock, SystemClock
from lane.errors import ProtocolError
from simulators.faults import check_fault
from simulators.ledger import Ledger
from simulators.pty import PseudoTerminal

log = logging.getLogger(__name__)

PRINTER_FAULTS = ("cover_open", "ribbon_out", "hopper_empty", "card_jam")
"""In the order the printer reports them first."""
CARD_PRINTER_FAULTS = frozenset({*PRINTER_FAULTS, "offline"})
FAULTS_THAT_STOP_A_CARD = frozenset({"card_jam", "ribbon_out", "cover_open"})


class CardPrinterSimulator:
    faults_supported = CARD_PRINTER_FAULTS

    def __init__(
        self,
        name: str = "card-printer",
        lane: str = "lane-1",
        clock: Clock | None = None,
        print_seconds: float = 3.0,
        ledger: Ledger | None = None,
        port: str | None = None,
    ) -> None:
        self.name = name
        self.lane = lane
        self.clock: Clock = clock or SystemClock()
        self.print_seconds = print_seconds
        self.ledger = ledger
        self.endpoint = PseudoTerminal(port)
        self.decoder = codec.LineDecoder(f"sim-{name}", command_mode=True)
        self.active_faults: set[str] = set()
        self.printed: dict[str, dict[str, str]] = {}
        """Renewal id -> the fields printed on its card."""
        self.received: list[codec.Command] = []
        self._jobs: dict[str, tuple[JobState, str | None]] = {}
        self._open_job: str | None = None
        self._open_fields: dict[str, str] = {}
        self._printing: asyncio.Task[None] | None = None

    @property
    def port_path(self) -> str:
        if self.endpoint.port_path is None:
            raise RuntimeError("simulator not started")
        return self.endpoint.port_path

    @property
    def busy(self) -> bool:
        return self._printing is not None and not self._printing.done()

    async def start(self) -> None:
        path = self.endpoint.open(self._on_data)
        log.info("card printer simulator %s on %s", self.name, path)

    async def stop(self) -> None:
        self.endpoint.close()
        if self._printing is not None and not self._printing.done():
            self._printing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._printing

    @property
    def faults(self) -> frozenset[str]:
        return frozenset(self.active_faults)

    async def inject(self, fault: str, active: bool = True) -> None:
        """Start or end a fault (:class:`simulators.faults.FaultInjectable`)."""
        check_fault(self, fault)
        if active:
            self.active_faults.add(fault)
        else:
            self.active_faults.discard(fault)
        log.info("%s: fault %s %s", self.name, fault, "on" if active else "off")

    # ------------------------------------------------------------------ protocol
    def _on_data(self, data: bytes) -> None:
        for line in self.decoder.feed(data):
            if "offline" in self.active_faults:
                continue
            self.endpoint.write(self.handle(line))

    def handle(self, line: bytes) -> bytes:
        """The printer's reply to one command line (without CR)."""
        try:
            command = codec.decode_command(line)
        except ProtocolError as exc:
            log.info("%s: %s", self.name, exc)
            return codec.encode_error("SYNTAX")
        self.received.append(command)
        name, args = command.name, command.args
        if name == Cmd.STATUS:
            return self._status_reply()
        if name == Cmd.JOB_QUERY:
            if len(args) != 1:
                return codec.encode_error("SYNTAX")
            state, fault = self._job_state(args[0])
            return codec.encode_ok(state, fault) if fault else codec.encode_ok(state)
        if self.busy:
            return codec.encode_error("BUSY")
        if name == Cmd.JOB_START:
            if len(args) != 1 or not args[0]:
                return codec.encode_error("SYNTAX")
            self._open_job, self._open_fields = args[0], {}
            return codec.encode_ok()
        if name == Cmd.JOB_DATA:
            if self._open_job is None:
                return codec.encode_error("NO_JOB")
            key, value = args
            self._open_fields[key] = value
            return codec.encode_ok()
        if name == Cmd.JOB_PRINT:
            return self._print()
        return codec.encode_error("SYNTAX")

    def _status_reply(self) -> bytes:
        active = [f for f in PRINTER_FAULTS if f in self.active_faults]
        if active:
            return codec.encode_ok("FAULT", ",".join(codec.FAULT_WORDS[f] for f in active))
        return codec.encode_ok("BUSY" if self.busy else "READY")

    def _job_state(self, renewal_id: str) -> tuple[JobState, str | None]:
        if renewal_id in self.printed:
            return JobState.PRINTED, None
        if renewal_id in self._jobs:
            return self._jobs[renewal_id]
        if renewal_id == self._open_job:
            return JobState.PENDING, None
        return JobState.NONE, None

    def _print(self) -> bytes:
        renewal_id = self._open_job
        if renewal_id is None:
            return codec.encode_error("NO_JOB")
        if renewal_id in self.printed:
            self._open_job = None
            return codec.encode_ok("ALREADY_PRINTED")
        for fault in PRINTER_FAULTS:
            if fault in self.active_faults:
                return codec.encode_error(codec.FAULT_WORDS[fault])
        fields, self._open_job, self._open_fields = self._open_fields, None, {}
        self._jobs[renewal_id] = (JobState.PRINTING, None)
        self._printing = asyncio.get_running_loop().create_task(self._print_card(renewal_id, fields))
        return codec.encode_ok()

    async def _print_card(self, renewal_id: str, fields: dict[str, str]) -> None:
        await self.clock.sleep(self.print_seconds)
        stopped = [f for f in PRINTER_FAULTS if f in self.active_faults and f in FAULTS_THAT_STOP_A_CARD]
        if stopped:
            self._jobs[renewal_id] = (JobState.FAILED, codec.FAULT_WORDS[stopped[0]])
            log.info("%s: card for %s failed: %s", self.name, renewal_id, stopped[0])
            return
        self._jobs.pop(renewal_id, None)
        self.printed[renewal_id] = fields
        if self.ledger is not None:
            self.ledger.record(self.lane, self.name, "card_printed", renewal_id=renewal_id,
                               sim_number=fields.get("sim_number"))


def main(argv: list[str] | None = None) -> int:
    """``lajur sim printer [--port P] [--fault F] [--mqtt URL]``: print the port, serve until Ctrl-C."""
    from simulators.standalone import FaultControl, add_control_arguments, start_control, wait_until_stopped

    parser = argparse.ArgumentParser(prog="lajur sim printer", description=main.__doc__)
    parser.add_argument("--port", help="serve on this port instead of a new pseudo-terminal")
    parser.add_argument("--fault", action="append", default=[], choices=sorted(CARD_PRINTER_FAULTS),
                        help="start with this fault (repeatable)")
    parser.add_argument("--print-seconds", type=float, default=3.0)
    parser.add_argument("--ledger", help="append physical effects to this JSON-lines file")
    add_control_arguments(parser, "card-printer")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    async def run() -> None:
        sim = CardPrinterSimulator(print_seconds=args.print_seconds, port=args.port,
                                   ledger=Ledger(args.ledger) if args.ledger else None)
        for fault in args.fault:
            await sim.inject(fault)
        await sim.start()
        print(f"{args.device} simulator on {sim.port_path}", flush=True)
        control = FaultControl(sim)
        await start_control(control, args)
        try:
            await wait_until_stopped()
        finally:
            await control.stop()
            await sim.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
