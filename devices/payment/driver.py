"""Controller side of the payment terminal (QRIS/EDC) over MQTT."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from devices.mqtt_codec import Topics
from devices.mqtt_device import MqttDeviceDriver
from devices.payment import codec
from devices.transport.mqtt import MqttClient
from lane.ports import PaymentResult

log = logging.getLogger(__name__)


class MqttPaymentTerminal(MqttDeviceDriver):
    """Implements :class:`lane.ports.PaymentTerminal`.

    The terminal owns idempotency: asking again with the same reference (after a timeout, a
    controller restart...) returns the settled result and never charges twice.
    """

    def __init__(self, client: MqttClient, topics: Topics, name: str = codec.DEVICE) -> None:
        super().__init__(client, topics, name)

    async def charge(self, reference: str, amount: int, *, timeout: float) -> PaymentResult:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        fields = codec.charge_fields(reference, amount)
        waiter = self.expect_event(
            lambda e: e["type"] == codec.EVENT_PAYMENT and e.get("reference") == reference
        )
        try:
            await self.send_command(codec.OP_CHARGE, timeout=timeout, **fields)
            body = await self.wait_event(waiter, deadline, f"payment result for {reference}")
        finally:
            waiter.cancel()
        result = codec.parse_payment_event(body)
        if result.amount != amount:
            log.warning("%s: %s settled for %d, asked %d", self.name, reference, result.amount, amount)
        log.info("%s: %s %s (%d)", self.name, reference, result.outcome, result.amount)
        return result

    def validate_event(self, body: dict[str, Any]) -> None:
        if body["type"] == codec.EVENT_PAYMENT:
            codec.parse_payment_event(body)
