"""Serial SIM card printer driver (implements :class:`lane.ports.CardPrinter`).

A card must never come out twice for one renewal: before starting a job the driver asks the printer
(``JQ``) whether it already printed that renewal id, so a job retried after a timeout or a controller
restart returns ``already_printed`` instead of a second card. The printer refuses a duplicate too.
"""

from __future__ import annotations

import asyncio
import logging

from devices.card_printer import codec
from devices.card_printer.codec import Cmd, JobState
from devices.serial_device import PolledSerialDevice
from devices.transport.serial import SerialTransport
from lane.errors import DeviceError, DeviceFault, DeviceOffline, DeviceTimeout, ProtocolError
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
        state, _ = await self._query(job.renewal_id)
        if state is JobState.PRINTED:
            log.info("%s: renewal %s already printed; not printing again", self.name, job.renewal_id)
            return CardPrintResult(job.renewal_id, already_printed=True)
        if state is not JobState.PRINTING:
            await self._submit(job)
        return await self._wait_printed(job.renewal_id)

    # ------------------------------------------------------------------ job steps
    async def _submit(self, job: CardJob) -> None:
        status = await self.status()
        if not status.online:
            raise DeviceOffline(self.name, "card printer does not answer")
        if status.faults:
            fault = sorted(status.faults)[0]
            raise DeviceFault(self.name, f"cannot print: {', '.join(sorted(status.faults))}", fault=fault)
        self._check(await self._request(Cmd.JOB_START, job.renewal_id), "job start")
        fields = {
            "sim_number": job.sim_number,
            "holder_name": job.holder_name,
            "sim_class": job.sim_class,
            "expires": job.expires.isoformat(),
            "photo_ref": job.photo_ref or "",
        }
        for key, value in fields.items():
            self._check(await self._request_raw(codec.encode_job_data(key, value), "JD"), f"job data {key}")
        reply = self._check(await self._request(Cmd.JOB_PRINT), "print")
        if reply.fields[:1] == ("ALREADY_PRINTED",):
            log.info("%s: printer already had renewal %s", self.name, job.renewal_id)

    async def _wait_printed(self, renewal_id: str) -> CardPrintResult:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.print_timeout
        while True:
            state, fault = await self._query(renewal_id)
            if state is JobState.PRINTED:
                return CardPrintResult(renewal_id)
            if state is JobState.FAILED:
                raise DeviceFault(self.name, f"card for {renewal_id} failed: {fault}", fault=fault)
            if state is JobState.NONE:
                raise DeviceError(self.name, f"printer lost the job for {renewal_id}")
            if loop.time() >= deadline:
                raise DeviceTimeout(self.name, f"card for {renewal_id} not printed in {self.print_timeout:.0f}s")
            await asyncio.sleep(self.job_poll_interval)

    async def _query(self, renewal_id: str) -> tuple[JobState, str | None]:
        reply = self._check(await self._request(Cmd.JOB_QUERY, renewal_id), "job query")
        try:
            state = JobState(reply.fields[0])
        except (IndexError, ValueError):
            raise ProtocolError(f"{self.name}: bad JQ reply {reply}") from None
        fault = None
        if state is JobState.FAILED:
            word = reply.fields[1] if len(reply.fields) > 1 else "UNKNOWN"
            fault = codec.FAULT_CODES.get(word, word.lower())
        return state, fault

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

    async def _request_raw(self, line: bytes, what: str) -> codec.Reply:
        """One command, one reply line. Lines that do not parse (noise) are logged and skipped."""

        def recognise(chunk: bytes) -> codec.Reply | None:
            for reply_line in self.decoder.feed(chunk):
                try:
                    return codec.decode_reply(reply_line)
                except ProtocolError as exc:
                    self.decoder.errors["bad_reply"] += 1
                    log.warning("%s: malformed reply to %s dropped: %s", self.name, what, exc)
            return None

        async with self.exchange():
            self.decoder.reset()
            await self.transport.write(line)
            return await self.read_reply(recognise, what)

