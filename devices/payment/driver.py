"""Controller side of the payment terminal (QRIS/EDC) over MQTT."""

from __future__ import annotations

import logging
from typing import Any

from devices import refusals as why
from devices.mqtt_codec import Topics
from devices.mqtt_device import MqttDeviceDriver
from devices.payment import codec
from devices.transport.mqtt import MqttClient
from lane.ports import ChargeSummary, PaymentResult

log = logging.getLogger(__name__)


class MqttPaymentTerminal(MqttDeviceDriver):
    """Implements :class:`lane.ports.PaymentTerminal`.

    The terminal owns idempotency: asking again with the same reference (after a timeout, a
    controller restart...) returns the settled result and never charges twice. A payment event counts
    only when it names the charge command it answers, while that command is outstanding, for exactly
    its reference and amount: a forged or replayed "paid" is refused, counted and reported.
    """

    answer_types = frozenset({codec.EVENT_PAYMENT, codec.EVENT_CONFIRMATION})

    def __init__(self, client: MqttClient, topics: Topics, name: str = codec.DEVICE) -> None:
        super().__init__(client, topics, name)

    async def confirm(self, summary: ChargeSummary, *, timeout: float) -> bool:
        fields = codec.confirm_fields(summary)

        def for_this_summary(body: dict[str, Any]) -> str | None:
            reference, _ = codec.parse_confirmation(body)
            return None if reference == summary.reference else why.WRONG_ANSWER

        body = await self.request(codec.OP_CONFIRM, timeout=timeout, answers=frozenset({codec.EVENT_CONFIRMATION}),
                                  check=for_this_summary, **fields)
        _, confirmed = codec.parse_confirmation(body)
        log.info("%s: %s %s", self.name, summary.reference, "confirmed" if confirmed else "declined")
        return confirmed

    async def charge(self, reference: str, amount: int, *, timeout: float) -> PaymentResult:
        fields = codec.charge_fields(reference, amount)

        def exactly_as_asked(body: dict[str, Any]) -> str | None:
            result = codec.parse_payment_event(body)
            if result.reference != reference:
                return why.WRONG_ANSWER
            if result.amount != amount:
                return why.WRONG_AMOUNT
            return None

        body = await self.request(codec.OP_CHARGE, timeout=timeout, answers=frozenset({codec.EVENT_PAYMENT}),
                                  check=exactly_as_asked, **fields)
        result = codec.parse_payment_event(body)
        log.info("%s: %s %s (%d)", self.name, reference, result.outcome, result.amount)
        return result

    def validate_event(self, body: dict[str, Any]) -> None:
        if body["type"] == codec.EVENT_PAYMENT:
            codec.parse_payment_event(body)
        elif body["type"] == codec.EVENT_CONFIRMATION:
            codec.parse_confirmation(body)
