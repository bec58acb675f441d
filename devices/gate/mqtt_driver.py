"""MQTT barrier gate driver: the gate publishes its retained state, the controller sends commands.

Implements :class:`lane.ports.BarrierGate` on :class:`devices.mqtt_device.MqttDeviceDriver`:
availability from the gate's Last Will, status from its retained ``state``, ``open`` / ``close`` /
``stop`` / ``auto_close`` as QoS 1 commands answered by acks. Listeners receive the new
:class:`GateStatus` whenever it changes (position, loops, faults or online), as with the serial gate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from typing import Any

from devices.gate import mqtt_codec as codec
from devices.mqtt_codec import Topics
from devices.mqtt_device import DeviceUpdate, MqttDeviceDriver
from devices.transport.mqtt import MqttClient
from lane.errors import DeviceFault, GateSafetyError
from lane.ports import GateStatus

log = logging.getLogger(__name__)


class MqttBarrierGate(MqttDeviceDriver):
    """A barrier gate on the lane's broker at ``lajur/<site>/<lane>/<name>/…``."""

    def __init__(self, client: MqttClient, topics: Topics, name: str = "entry-gate", *,
                 command_timeout: float = 2.0) -> None:
        super().__init__(client, topics, name)
        self.command_timeout = command_timeout
        self._gate = GateStatus()
        self._reported = GateStatus()
        self._state_arrived = asyncio.Event()

    # ------------------------------------------------------------------ port
    async def start(self, settle: float = 1.5) -> None:
        """Subscribe, then wait up to ``settle`` s for the retained state (as the serial gate waits for
        its first poll), so the controller starts knowing where the boom is. Never raises if absent."""
        await super().start()
        if self.state is not None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settle):
                await self._state_arrived.wait()

    @property
    def status(self) -> GateStatus:
        """The last retained state, with ``online`` from availability and our broker link."""
        return replace(self._gate, online=self.online)

    async def open(self) -> None:
        await self._command(codec.OP_OPEN)

    async def close(self) -> None:
        """Refuse locally, without a message, while the last known safety loop is occupied."""
        if self._gate.safety_loop:
            raise GateSafetyError(self.name, "close refused: safety loop occupied", fault=codec.ERROR_SAFETY)
        await self._command(codec.OP_CLOSE)

    async def stop_motion(self) -> None:
        await self._command(codec.OP_STOP)

    async def set_auto_close(self, seconds: int) -> None:
        """Let the gate lower the boom by itself ``seconds`` after it is open (0 = never)."""
        await self._command(codec.OP_AUTO_CLOSE, **codec.auto_close_fields(seconds))

    # ------------------------------------------------------------------ internals
    async def _command(self, op: str, **fields: Any) -> None:
        try:
            await self.send_command(op, timeout=self.command_timeout, **fields)
        except DeviceFault as exc:
            if exc.fault == codec.ERROR_SAFETY:
                raise GateSafetyError(self.name, f"{op} refused by gate: safety loop occupied",
                                      fault=codec.ERROR_SAFETY) from exc
            raise

    def validate_state(self, body: dict[str, Any]) -> None:
        codec.parse_state(body)

    def validate_event(self, body: dict[str, Any]) -> None:
        codec.validate_event(body)

    def _notify(self, update: DeviceUpdate) -> None:
        """Turn availability/state updates into GateStatus changes for the listeners."""
        if update.kind == "state" and update.data is not None:
            self._gate = codec.parse_state(update.data)  # validated in _on_state already
            self._state_arrived.set()
        if update.kind == "event":
            return
        status = self.status
        if status == self._reported:
            return
        self._reported = status
        self._tell_listeners(status)
