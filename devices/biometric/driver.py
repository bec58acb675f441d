"""Controller side of the biometric station (photo, fingerprint, signature) over MQTT."""

from __future__ import annotations

import logging
from typing import Any

from devices import refusals as why
from devices.biometric import codec
from devices.mqtt_codec import Topics
from devices.mqtt_device import MqttDeviceDriver
from devices.transport.mqtt import MqttClient
from lane.errors import DeviceFault
from lane.ports import CaptureResult

log = logging.getLogger(__name__)


class MqttBiometricStation(MqttDeviceDriver):
    """Implements :class:`lane.ports.BiometricStation`. A capture result counts only when it names
    the outstanding capture command and its renewal."""

    answer_types = frozenset({codec.EVENT_CAPTURED, codec.EVENT_FAILED})

    def __init__(self, client: MqttClient, topics: Topics, name: str = codec.DEVICE) -> None:
        super().__init__(client, topics, name)

    async def capture(self, renewal_id: str, *, timeout: float) -> CaptureResult:
        """Ask the station to capture for ``renewal_id``; returns the file references.

        Raises DeviceFault (fault = the station's error) when the capture failed."""

        def for_this_renewal(body: dict[str, Any]) -> str | None:
            return None if body.get("renewal_id") == renewal_id else why.WRONG_ANSWER

        body = await self.request(codec.OP_CAPTURE, timeout=timeout, answers=self.answer_types,
                                  check=for_this_renewal, renewal_id=renewal_id)
        if body["type"] == codec.EVENT_FAILED:
            _, error = codec.parse_failed(body)
            raise DeviceFault(self.name, f"capture for {renewal_id} failed: {error}", fault=error)
        return codec.parse_captured(body)

    async def delete(self, renewal_id: str, *, timeout: float) -> None:
        """Have the station delete the captures of ``renewal_id`` (acked once they are gone)."""
        await self.send_command(codec.OP_DELETE, timeout=timeout, renewal_id=renewal_id)

    def validate_event(self, body: dict[str, Any]) -> None:
        if body["type"] == codec.EVENT_CAPTURED:
            codec.parse_captured(body)
        elif body["type"] == codec.EVENT_FAILED:
            codec.parse_failed(body)
