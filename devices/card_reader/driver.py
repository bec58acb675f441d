"""Controller side of the e-KTP card reader over MQTT."""

from __future__ import annotations

from typing import Any

from devices.card_reader import codec
from devices.mqtt_codec import Topics
from devices.mqtt_device import MqttDeviceDriver
from devices.transport.mqtt import MqttClient
from lane.errors import DeviceFault
from lane.ports import IdentityCard


class MqttCardReader(MqttDeviceDriver):
    """Implements :class:`lane.ports.CardReader`. A card counts only while the read it answers is
    armed: a card event outside a read, or naming another read, is refused (its personal data is
    neither kept nor logged)."""

    answer_types = frozenset({codec.EVENT_CARD, codec.EVENT_READ_ERROR})

    def __init__(self, client: MqttClient, topics: Topics, name: str = codec.DEVICE) -> None:
        super().__init__(client, topics, name)

    async def read(self, *, timeout: float) -> IdentityCard:
        """Arm the reader and wait for a card. Raises DeviceFault (``fault`` = reader error, e.g.
        ``unreadable``), DeviceTimeout, DeviceOffline."""
        body = await self.request(codec.OP_READ, timeout=timeout, answers=self.answer_types,
                                  **codec.read_fields(timeout))
        if body["type"] == codec.EVENT_READ_ERROR:
            error = codec.parse_read_error(body)
            raise DeviceFault(self.name, f"card read failed: {error}", fault=error)
        return codec.parse_card(body)

    def validate_event(self, body: dict[str, Any]) -> None:
        if body["type"] == codec.EVENT_CARD:
            codec.parse_card(body)
        elif body["type"] == codec.EVENT_READ_ERROR:
            codec.parse_read_error(body)
