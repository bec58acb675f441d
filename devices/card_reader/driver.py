"""Controller side of the e-KTP card reader over MQTT."""

from __future__ import annotations

import asyncio
from typing import Any

from devices.card_reader import codec
from devices.mqtt_codec import Topics
from devices.mqtt_device import MqttDeviceDriver
from devices.transport.mqtt import MqttClient
from lane.errors import DeviceFault
from lane.ports import IdentityCard


class MqttCardReader(MqttDeviceDriver):
    """Implements :class:`lane.ports.CardReader`."""

    def __init__(self, client: MqttClient, topics: Topics, name: str = codec.DEVICE) -> None:
        super().__init__(client, topics, name)

    async def read(self, *, timeout: float) -> IdentityCard:
        """Arm the reader and wait for a card. Raises DeviceFault (``fault`` = reader error, e.g.
        ``unreadable``), DeviceTimeout, DeviceOffline."""
        deadline = asyncio.get_running_loop().time() + timeout
        waiter = self.expect_event(lambda e: e["type"] in (codec.EVENT_CARD, codec.EVENT_READ_ERROR))
        try:
            await self.send_command(codec.OP_READ, timeout=timeout)
            body = await self.wait_event(waiter, deadline, "card")
        finally:
            waiter.cancel()
        if body["type"] == codec.EVENT_READ_ERROR:
            error = str(body.get("error") or "read_error")
            raise DeviceFault(self.name, f"card read failed: {error}", fault=error)
        return codec.parse_card(body)

    def validate_event(self, body: dict[str, Any]) -> None:
        if body["type"] == codec.EVENT_CARD:
            codec.parse_card(body)
