"""Serial SIM card printer driver (implements :class:`lane.ports.CardPrinter`).

A card must never come out twice for one renewal: before starting a job the driver asks the printer
(``JQ``) whether it already printed that renewal id, so a job retried after a timeout or a controller
restart returns ``already_printed`` instead of a second card. The printer refuses a duplicate too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from devices.card_printer import codec
from devices.card_printer.codec import Cmd, JobState
from devices.transport.serial import SerialTransport
from lane.errors import DeviceError, DeviceFault, DeviceOffline, DeviceTimeout, ProtocolError
from lane.ports import CardJob, CardPrintResult, Listener, PrinterStatus

log = logging.getLogger(__name__)


class SerialCardPrinter:
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
        self.name = name
        self.transport = transport
        self.reply_timeout = reply_timeout
        self.print_timeout = print_timeout
        self.job_poll_interval = job_poll_interval
        self.poll_interval = poll_interval
        self.missed_polls_offline = missed_polls_offline
        self.owns_transport = owns_transport
        self.decoder = codec.LineDecoder(name)
        self.missed_polls = 0
        self._status = PrinterStatus(online=False, ready=False)
        self._listeners: list[Listener] = []
        self._poll_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ device
    @property
    def online(self) -> bool:
        return self._status.online

    @property
    def last_status(self) -> PrinterStatus:
        return self._status

    async def start(self) -> None:
        """Start the transport and the status poll; never raises when the printer is absent."""
        if self._poll_task is not None:
            return
        await self.transport.start()
        with contextlib.suppress(DeviceOffline):
            await self.transport.wait_connected(1.0)
        await self.status()
        self._poll_task = asyncio.create_task(self._poll_loop(), name=f"{self.name}-poll")

    async def stop(self) -> None:
        task, self._poll_task = self._poll_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.owns_transport:
            await self.transport.stop()
        self._update(PrinterStatus(online=False, ready=False, faults=self._status.faults))

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    # ------------------------------------------------------------------ port
    async def status(self) -> PrinterStatus:
        """Ask the printer now. An unanswered query is reported as offline, not raised."""
        try:
            reply = await self._request(Cmd.STATUS)
        except (DeviceTimeout, DeviceOffline) as exc:
            self.missed_polls += 1
            if self.missed_polls >= self.missed_polls_offline or not self._status.online:
                log.info("%s: no status (%s)", self.name, exc)
                self._update(PrinterStatus(online=False, ready=False, faults=self._status.faults))
            return self._status
        self.missed_polls = 0
        self._update(self._parse_status(reply))
        return self._status

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
        loop = asyncio.get_running_loop()
        async with self.transport.lock:
            self.transport.reset_input()
            self.decoder.reset()
            await self.transport.write(line)
            deadline = loop.time() + self.reply_timeout
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise DeviceTimeout(self.name, f"no reply to {what} within {self.reply_timeout:.2f}s")
                try:
                    chunk = await self.transport.read_some(timeout=remaining)
                except DeviceTimeout:
                    raise DeviceTimeout(self.name, f"no reply to {what} within {self.reply_timeout:.2f}s") from None
                for reply_line in self.decoder.feed(chunk):
                    try:
                        return codec.decode_reply(reply_line)
                    except ProtocolError as exc:
                        self.decoder.errors["bad_reply"] += 1
                        log.warning("%s: malformed reply to %s dropped: %s", self.name, what, exc)

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self.status()
            except Exception:
                log.exception("%s: status poll failed", self.name)

    def _update(self, status: PrinterStatus) -> None:
        if status == self._status:
            return
        self._status = status
        for listener in list(self._listeners):
            try:
                listener(status)
            except Exception:
                log.exception("%s: listener failed", self.name)
