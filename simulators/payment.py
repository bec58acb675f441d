"""Simulated payment terminal (QRIS/EDC) speaking the same codec as the driver.

A confirm shows the applicant their name, class and fee and asks a pluggable ``confirmer`` —
``async (summary) -> bool`` — whether they press OK (the default does after ``confirm_delay``); the
answer to a reference is remembered and given again to a repeated confirm. A charge asks a pluggable
``payer`` — ``async (reference, amount) -> status`` — what the human in the car does; the traffic simulator plugs its virtual drivers in there, the default pays after
``pay_delay`` seconds of clock time. Settled references are remembered: a repeated charge
re-announces the result and the ledger's ``charge_made`` is written once per reference.
Faults: ``declined`` (the bank refuses), ``timeout`` (the terminal never answers), ``offline``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from devices.mqtt_codec import Topics
from devices.payment import codec
from devices.transport.mqtt import MqttClient
from lane.clock import Clock
from lane.ports import ChargeSummary, PaymentOutcome
from simulators.ledger import Ledger
from simulators.mqtt_device import CommandRejected, MqttDeviceSimulator

log = logging.getLogger(__name__)

Payer = Callable[[str, int], Awaitable[PaymentOutcome | str]]
Confirmer = Callable[[ChargeSummary], Awaitable[bool]]


class PaymentSimulator(MqttDeviceSimulator):
    faults_supported = frozenset({"offline", "timeout", "declined"})

    def __init__(
        self,
        client: MqttClient,
        topics: Topics,
        clock: Clock | None = None,
        lane: str = "lane-1",
        ledger: Ledger | None = None,
        *,
        payer: Payer | None = None,
        pay_delay: float = 5.0,
        confirmer: Confirmer | None = None,
        confirm_delay: float = 3.0,
        name: str = codec.DEVICE,
    ) -> None:
        super().__init__(client, topics, clock=clock, lane=lane, ledger=ledger, name=name)
        self.payer: Payer = payer or self._default_payer
        self.pay_delay = pay_delay
        self.confirmer: Confirmer = confirmer or self._default_confirmer
        self.confirm_delay = confirm_delay
        self.confirmations: dict[str, bool] = {}
        """reference → the applicant's answer (True: OK), given again to a repeated confirm."""
        self.shown: list[ChargeSummary] = []
        """What the terminal's screen showed the applicants, in order."""
        self._confirming: dict[str, str] = {}
        """reference → the id of the latest confirm command for it: the one the answer names."""
        self.settled: dict[str, dict[str, Any]] = {}
        """reference → the payment event already announced for it (without the command it named)."""
        self.charges_made = 0
        self._collecting: dict[str, str] = {}
        """reference → the id of the latest charge command for it: the one the result answers."""

    async def start(self) -> None:
        self._state = {"status": "idle"}
        await super().start()

    async def _default_payer(self, reference: str, amount: int) -> PaymentOutcome:
        await self.clock.sleep(self.pay_delay)
        return PaymentOutcome.PAID

    async def _default_confirmer(self, summary: ChargeSummary) -> bool:
        await self.clock.sleep(self.confirm_delay)
        return True

    async def handle_command(self, cmd: dict[str, Any]) -> None:
        if cmd["op"] == codec.OP_CONFIRM:
            self._handle_confirm(cmd)
            return
        if cmd["op"] != codec.OP_CHARGE:
            raise CommandRejected(f"unknown op {cmd['op']!r}")
        reference, amount = codec.parse_charge(cmd)
        if reference in self.settled:
            log.info("%s: %s already settled, re-announcing", self.name, reference)
            body = {**self.settled[reference], "command": cmd["id"], "repeat": True}
            self.spawn(self.publish_event(codec.EVENT_PAYMENT, **body))
            return
        already_paying = reference in self._collecting
        self._collecting[reference] = cmd["id"]  # a retry: the result answers the latest command
        if not already_paying:  # else the customer is already paying; its result will be announced
            self.spawn(self._collect(reference, amount))

    def _handle_confirm(self, cmd: dict[str, Any]) -> None:
        summary = codec.parse_confirm(cmd)
        if summary.reference in self.confirmations:
            body = codec.confirmation_event(cmd["id"], summary.reference, self.confirmations[summary.reference])
            body.pop("type")
            self.spawn(self.publish_event(codec.EVENT_CONFIRMATION, **body))
            return
        asking = summary.reference in self._confirming
        self._confirming[summary.reference] = cmd["id"]
        if not asking:
            self.spawn(self._ask(summary))

    async def _ask(self, summary: ChargeSummary) -> None:
        self.shown.append(summary)
        await self.publish_state(status="confirming", reference=summary.reference, amount=summary.amount)
        try:
            confirmed = bool(await self.confirmer(summary))
        except Exception:
            log.exception("%s: confirmer for %s failed", self.name, summary.reference)
            confirmed = False
        finally:
            command = self._confirming.pop(summary.reference)
        self.confirmations[summary.reference] = confirmed
        await self.publish_state(status="idle")
        body = codec.confirmation_event(command, summary.reference, confirmed)
        body.pop("type")
        await self.publish_event(codec.EVENT_CONFIRMATION, **body)

    async def _collect(self, reference: str, amount: int) -> None:
        await self.publish_state(status="waiting", reference=reference, amount=amount)
        try:
            status = PaymentOutcome(await self.payer(reference, amount))
            detail = ""
            if "declined" in self.faults and status == PaymentOutcome.PAID:
                status, detail = PaymentOutcome.FAILED, "declined"
        except Exception as exc:
            log.exception("%s: payer for %s failed", self.name, reference)
            status, detail = PaymentOutcome.FAILED, f"terminal_error: {exc}"
        finally:
            command = self._collecting.pop(reference)
        body = codec.payment_event(command, reference, status, amount, detail)
        body.pop("type")
        self.settled[reference] = {k: v for k, v in body.items() if k != "command"}
        if status == PaymentOutcome.PAID:
            self.charges_made += 1
            if self.ledger is not None:
                self.ledger.record(self.lane, self.name, "charge_made", reference=reference, amount=amount)
        await self.publish_state(status="idle")
        await self.publish_event(codec.EVENT_PAYMENT, **body)


def main(argv: list[str] | None = None) -> int:
    """``lajur sim payment --url mqtt://broker:1883 [--fault declined]``: serve until Ctrl-C."""
    from simulators.standalone import simulator_main

    return simulator_main(PaymentSimulator, codec.DEVICE, argv, prog="lajur sim payment")


if __name__ == "__main__":  # pragma: no cover - technicians' tool
    import sys

    sys.exit(main())
