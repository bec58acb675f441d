"""Simulated SIM card printer on a pseudo-terminal, speaking :mod:`devices.card_printer.codec`.

Like a real retail card printer it remembers which jobs (renewal id and copy) it printed, so a retried
job is recognised while a reprint (the next copy) is printed, and it takes a few (clock) seconds per
card, during which it is busy. The ledger records every card that physically came out
(``card_printed`` with the renewal id, copy, card serial and the photo, signature and fingerprint
references it carries): "no second card" is checked against it.
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

Job = tuple[str, int]
"""(renewal id, copy): one card."""


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
        self.printed: dict[Job, dict[str, str]] = {}
        """(renewal id, copy) -> the fields printed on that card (photo, signature and fingerprint
        references included)."""
        self.received: list[codec.Command] = []
        self._jobs: dict[Job, tuple[JobState, str | None]] = {}
        self._open_job: Job | None = None
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
            try:
                job = codec.parse_job_args(args)
            except ProtocolError:
                return codec.encode_error("SYNTAX")
            state, fault = self._job_state(job)
            return codec.encode_job_answer(codec.JobAnswer(state, job[0], job[1], fault))
        if self.busy:
            return codec.encode_error("BUSY")
        if name == Cmd.JOB_START:
            try:
                self._open_job, self._open_fields = codec.parse_job_args(args), {}
            except ProtocolError:
                return codec.encode_error("SYNTAX")
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

    def _job_state(self, job: Job) -> tuple[JobState, str | None]:
        if job in self.printed:
            return JobState.PRINTED, None
        if job in self._jobs:
            return self._jobs[job]
        if job == self._open_job:
            return JobState.PENDING, None
        return JobState.NONE, None

    def _print(self) -> bytes:
        job = self._open_job
        if job is None:
            return codec.encode_error("NO_JOB")
        if job in self.printed:
            self._open_job = None
            return codec.encode_ok("ALREADY_PRINTED")
        for fault in PRINTER_FAULTS:
            if fault in self.active_faults:
                return codec.encode_error(codec.FAULT_WORDS[fault])
        fields, self._open_job, self._open_fields = self._open_fields, None, {}
        self._jobs[job] = (JobState.PRINTING, None)
        self._printing = asyncio.get_running_loop().create_task(self._print_card(job, fields))
        return codec.encode_ok()

    async def _print_card(self, job: Job, fields: dict[str, str]) -> None:
        await self.clock.sleep(self.print_seconds)
        renewal_id, copy = job
        stopped = [f for f in PRINTER_FAULTS if f in self.active_faults and f in FAULTS_THAT_STOP_A_CARD]
        if stopped:
            self._jobs[job] = (JobState.FAILED, codec.FAULT_WORDS[stopped[0]])
            log.info("%s: card %s copy %d failed: %s", self.name, renewal_id, copy, stopped[0])
            return
        self._jobs.pop(job, None)
        self.printed[job] = fields
        if self.ledger is not None:
            self.ledger.record(
                self.lane, self.name, "card_printed", renewal_id=renewal_id, copy=copy,
                card_serial=fields.get("card_serial") or None, sim_number=fields.get("sim_number"),
                photo_ref=fields.get("photo_ref") or None, signature_ref=fields.get("signature_ref") or None,
                fingerprint_ref=fields.get("fingerprint_ref") or None)


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
