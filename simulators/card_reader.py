"""Simulated e-KTP card reader.

A ``read`` is answered with the first of: a card :meth:`insert`-ed by hand (technicians,
standalone use), or what the pluggable ``supplier`` — ``async () -> IdentityCard | dict`` — hands
in after its human delay (the traffic simulator gives the data of the driver at window 1).
Faults: ``unreadable`` (event ``read_error``), ``timeout``, ``offline``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from devices.card_reader import codec
from devices.mqtt_codec import Topics
from devices.transport.mqtt import MqttClient
from lane.clock import Clock
from lane.ports import IdentityCard
from simulators.ledger import Ledger
from simulators.mqtt_device import CommandRejected, MqttDeviceSimulator

log = logging.getLogger(__name__)

Supplier = Callable[[], Awaitable[IdentityCard | dict[str, Any]]]


class CardReaderSimulator(MqttDeviceSimulator):
    faults_supported = frozenset({"offline", "timeout", "unreadable"})

    def __init__(
        self,
        client: MqttClient,
        topics: Topics,
        clock: Clock | None = None,
        lane: str = "lane-1",
        ledger: Ledger | None = None,
        *,
        supplier: Supplier | None = None,
        name: str = codec.DEVICE,
    ) -> None:
        super().__init__(client, topics, clock=clock, lane=lane, ledger=ledger, name=name)
        self.supplier = supplier
        self.reads = 0
        self._inserted: asyncio.Queue[IdentityCard] = asyncio.Queue()
        self._reading: asyncio.Task[Any] | None = None
        self._armed_by: str | None = None
        """The id of the latest read command: the card answers it."""
        self._armed_until = float("inf")
        """Loop time when the latest read's window ends (its ``seconds``); then the reader disarms."""

    async def start(self) -> None:
        self._state = {"status": "idle"}
        await super().start()

    def insert(self, card: IdentityCard | dict[str, Any]) -> None:
        """Put a card on the reader: answers the pending read, or the next one."""
        self._inserted.put_nowait(codec.as_card(card))

    async def handle_command(self, cmd: dict[str, Any]) -> None:
        if cmd["op"] != codec.OP_READ:
            raise CommandRejected(f"unknown op {cmd['op']!r}")
        seconds = codec.parse_read(cmd)
        self._armed_by = cmd["id"]
        loop = asyncio.get_running_loop()
        self._armed_until = loop.time() + seconds if seconds is not None else float("inf")
        if self._reading is not None and not self._reading.done():
            return  # already armed; the card on its way answers this (latest) read
        self._reading = self.spawn(self._read())

    async def _next_card(self) -> IdentityCard:
        getter = asyncio.ensure_future(self._inserted.get())
        if self.supplier is None:
            return await getter
        supplied = asyncio.ensure_future(self.supplier())
        try:
            done, _ = await asyncio.wait({getter, supplied}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (getter, supplied):
                if not task.done():
                    task.cancel()
        if getter in done:
            return getter.result()
        return codec.as_card(supplied.result())

    async def _read(self) -> None:
        """Wait for a card while armed; a card tapped after the window stays for the next read."""
        await self.publish_state(status="reading")
        loop = asyncio.get_running_loop()
        while True:
            remaining = self._armed_until - loop.time()
            if remaining <= 0:
                log.info("%s: read window over, disarmed", self.name)
                await self.publish_state(status="idle")
                return
            try:
                card = await asyncio.wait_for(self._next_card(), None if remaining == float("inf") else remaining)
                break
            except TimeoutError:
                continue  # a new read may have moved the window
        self.reads += 1
        if self.ledger is not None:  # the moment of the tap; no personal data in the ledger
            self.ledger.record(self.lane, self.name, "card_tapped")
        await self.publish_state(status="idle")
        command = self._armed_by or ""
        if "unreadable" in self.faults:
            event = codec.read_error_event(command, "unreadable")
        else:
            event = codec.card_event(command, card)
        await self.publish_event(event.pop("type"), **event)


def main(argv: list[str] | None = None) -> int:
    """``lajur sim card-reader --url mqtt://broker:1883 [--fault unreadable]``: every read is answered
    after 3 s by a clearly fake card; serve until Ctrl-C."""
    from datetime import date

    from simulators.standalone import simulator_main

    def _demo_card(sim: CardReaderSimulator) -> None:
        async def supplier() -> IdentityCard:
            await sim.clock.sleep(3)
            return IdentityCard(nik="3174010101900001", name="CONTOH SAJA", birth_date=date(1990, 1, 1),
                                sim_number="000000000000")

        sim.supplier = supplier

    return simulator_main(CardReaderSimulator, codec.DEVICE, argv, setup=_demo_card, prog="lajur sim card-reader")


if __name__ == "__main__":  # pragma: no cover - technicians' tool
    import sys

    sys.exit(main())
