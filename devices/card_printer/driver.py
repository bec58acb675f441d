"""Serial SIM card printer driver (implements :class:`lane.ports.CardPrinter`).

A card must never come out twice for one job (a renewal id and a copy number): before starting a job
the driver asks the printer (``JQ``) whether it already printed it, so a job retried after a timeout or
a controller restart returns ``already_printed`` instead of a second card; the printer refuses a
duplicate too. A reprint is the next copy, a new job. The job carries the biometric capture's photo,
signature and fingerprint references to the card.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from devices.card_printer import codec
from devices.card_printer.codec import Cmd, JobState
from devices.refusals import WRONG_JOB
from devices.serial_device import PolledSerialDevice
from devices.transport.serial import SerialTransport
from lane.errors import DeviceError, DeviceFault, DeviceOffline, DeviceTimeout, ProtocolError, ValidationError
from lane.ports import CardJob, CardPrintResult, PrinterStatus

log = logging.getLogger(__name__)


class SerialCardPrinter(PolledSerialDevice[PrinterStatus]):
    def __init__(
        self,
        name: str,
        transport: SerialTransport,
        *,
        reply_timeout: float = 1.0,
        print_timeout: float = 30.0,
        job_poll_interval: float = 0.1,
        poll_interval: float = 1.0,
        missed_polls_offline: int = 3,
        owns_transport: bool = True,
    ) -> None:
        super().__init__(name, transport, PrinterStatus(online=False, ready=False), poll_interval=poll_interval,
                         reply_timeout=reply_timeout, missed_polls_offline=missed_polls_offline,
                         owns_transport=owns_transport)
        self.print_timeout = print_timeout
        self.job_poll_interval = job_poll_interval
        self.decoder = codec.LineDecoder(name)

    # ------------------------------------------------------------------ port
    async def status(self) -> PrinterStatus:
        """Ask the printer now. An unanswered query counts as a missed poll, it is not raised."""
        return await self.refresh()

    async def poll(self) -> PrinterStatus:
        return self._parse_status(await self._request(Cmd.STATUS))

    def offline_status(self, last: PrinterStatus) -> PrinterStatus:
        return PrinterStatus(online=False, ready=False, faults=last.faults)

    def is_online(self, status: PrinterStatus) -> bool:
        return status.online

    async def print_card(self, job: CardJob) -> CardPrintResult:
        """Print one card of ``job`` (its renewal id and copy). A job the printer already printed
        returns ``already_printed`` and nothing comes out; a reprint is the next copy, a new job."""
        if job.copy < 1:
            raise ValueError("a card job's copy number starts at 1")
        answer = await self._query(job)
        if answer.state is JobState.PRINTED:
            log.info("%s: renewal %s copy %d already printed; not printing again", self.name, job.renewal_id,
                     job.copy)
            return self._result(job, already_printed=True)
        if answer.state is not JobState.PRINTING:
            await self._submit(job)
        return await self._wait_printed(job)

    # ------------------------------------------------------------------ job steps
    async def _submit(self, job: CardJob) -> None:
        status = await self.status()
        if not status.online:
            raise DeviceOffline(self.name, "card printer does not answer")
        if status.faults:
            fault = sorted(status.faults)[0]
            raise DeviceFault(self.name, f"cannot print: {', '.join(sorted(status.faults))}", fault=fault)
        lines = [codec.encode_job_data(key, value) for key, value in codec.job_data(job).items()]
        too_long = [line for line in lines if len(line) > codec.MAX_LINE]
        if too_long:  # the printer would drop the line and the job would stall: refuse it here
            raise ValidationError("card job", f"{len(too_long)} field(s) longer than the printer's {codec.MAX_LINE}"
                                              " bytes a line")
        self._check(await self._request_raw(codec.encode_job_start(job.renewal_id, job.copy), "JS"), "job start")
        for key, line in zip(codec.job_data(job), lines, strict=True):
            self._check(await self._request_raw(line, "JD"), f"job data {key}")
        reply = self._check(await self._request(Cmd.JOB_PRINT), "print")
        if reply.fields[:1] == ("ALREADY_PRINTED",):
            log.info("%s: printer already had renewal %s copy %d", self.name, job.renewal_id, job.copy)

    async def _wait_printed(self, job: CardJob) -> CardPrintResult:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.print_timeout
        what = f"card {job.renewal_id} copy {job.copy}"
        while True:
            answer = await self._query(job)
            if answer.state is JobState.PRINTED:
                return self._result(job)
            if answer.state is JobState.FAILED:
                fault = codec.FAULT_CODES.get(answer.fault or "", (answer.fault or "unknown").lower())
                raise DeviceFault(self.name, f"{what} failed: {fault}", fault=fault)
            if answer.state is JobState.NONE:
                raise DeviceError(self.name, f"printer lost the job for {what}")
            if loop.time() >= deadline:
                raise DeviceTimeout(self.name, f"{what} not printed in {self.print_timeout:.0f}s")
            await asyncio.sleep(self.job_poll_interval)

    async def _query(self, job: CardJob) -> codec.JobAnswer:
        """The printer's answer about this job. An answer naming another job is refused and the
        driver keeps listening for the right one (DeviceTimeout if it never comes)."""
        answers: list[codec.JobAnswer] = []

        def about_this_job(reply: codec.Reply) -> bool:
            if not reply.ok:
                return True  # an error word: _check turns it into the fault
            answer = codec.decode_job_answer(reply)
            if (answer.renewal_id, answer.copy) != (job.renewal_id, job.copy):
                self.refusals.refuse(WRONG_JOB, f"JQ for copy {job.copy} answered about another job")
                return False
            answers.append(answer)
            return True

        line = codec.encode_job_query(job.renewal_id, job.copy)
        self._check(await self._request_raw(line, "JQ", accept=about_this_job), "job query")
        return answers[-1]

    @staticmethod
    def _result(job: CardJob, *, already_printed: bool = False) -> CardPrintResult:
        return CardPrintResult(job.renewal_id, reprinted=job.copy > 1, already_printed=already_printed,
                               copy=job.copy)

    def _check(self, reply: codec.Reply, what: str) -> codec.Reply:
        if reply.ok:
            return reply
        word = reply.error or "UNKNOWN"
        if word in codec.FAULT_CODES:
            raise DeviceFault(self.name, f"{what}: {word}", fault=codec.FAULT_CODES[word])
        raise DeviceError(self.name, f"{what}: {word}", fault=word.lower())

    @staticmethod
    def _parse_status(reply: codec.Reply) -> PrinterStatus:
        if not reply.ok or not reply.fields:
            return PrinterStatus(online=True, ready=False)
        state = reply.fields[0]
        faults: frozenset[str] = frozenset()
        if state == "FAULT" and len(reply.fields) > 1:
            faults = frozenset(
                codec.FAULT_CODES.get(word, word.lower()) for word in reply.fields[1].split(",") if word
            )
        return PrinterStatus(online=True, ready=state == "READY", faults=faults)

    # ------------------------------------------------------------------ line
    async def _request(self, name: str, *args: str) -> codec.Reply:
        return await self._request_raw(codec.encode_command(name, *args), name)

    async def _request_raw(self, line: bytes, what: str,
                           accept: Callable[[codec.Reply], bool] | None = None) -> codec.Reply:
        """One command, one reply line. Lines that do not parse (noise) are logged and skipped; with
        ``accept``, so are replies it does not take as the answer to this command."""

        def recognise(chunk: bytes) -> codec.Reply | None:
            for reply_line in self.decoder.feed(chunk):
                try:
                    reply = codec.decode_reply(reply_line)
                    if accept is None or accept(reply):
                        return reply
                except ProtocolError as exc:
                    self.decoder.errors["bad_reply"] += 1
                    log.warning("%s: malformed reply to %s dropped: %s", self.name, what, exc)
            return None

        async with self.exchange():
            self.decoder.reset()
            await self.transport.write(line)
            return await self.read_reply(recognise, what)
