"""Controller side of the biometric station (photo, fingerprint, signature) over MQTT."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from devices.biometric import codec
from devices.mqtt_codec import Topics
from devices.mqtt_device import MqttDeviceDriver
from devices.transport.mqtt import MqttClient
from lane.errors import DeviceFault
from lane.ports import CaptureResult

log = logging.getLogger(__name__)


class MqttBiometricStation(MqttDeviceDriver):
    """Implements :class:`lane.ports.BiometricStation`."""

    def __init__(self, client: MqttClient, topics: Topics, name: str = codec.DEVICE) -> None:
        super().__init__(client, topics, name)

    async def capture(self, renewal_id: str, *, timeout: float) -> CaptureResult:
        """Ask the station to capture for ``renewal_id``; returns the file references.

        Raises DeviceFault (fault = the station's error) when the capture failed."""
        deadline = asyncio.get_running_loop().time() + timeout
        waiter = self.expect_event(
            lambda e: e["type"] in (codec.EVENT_CAPTURED, codec.EVENT_FAILED) and e.get("renewal_id") == renewal_id
        )
        try:
            await self.send_command(codec.OP_CAPTURE, timeout=timeout, renewal_id=renewal_id)
            body = await self.wait_event(waiter, deadline, f"capture for {renewal_id}")
        finally:
            waiter.cancel()
        if body["type"] == codec.EVENT_FAILED:
            _, error = codec.parse_failed(body)
            raise DeviceFault(self.name, f"capture for {renewal_id} failed: {error}", fault=error)
        return codec.parse_captured(body)

    def validate_event(self, body: dict[str, Any]) -> None:
        if body["type"] == codec.EVENT_CAPTURED:
            codec.parse_captured(body)
        elif body["type"] == codec.EVENT_FAILED:
            codec.parse_failed(body)
