"""The simulated barrier gate on MQTT: one :class:`simulators.gate.GateModel` on the broker.

Publishes the model's status as retained state and events, and takes commands, with the codec of
``devices/gate/mqtt_codec.py`` (the driver is ``devices/gate/mqtt_driver.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from devices import mqtt_codec
from devices.gate import mqtt_codec as mqtt_gate
from devices.mqtt_codec import Topics
from devices.transport.mqtt import MqttClient
from lane.errors import GateSafetyError
from lane.ports import GateStatus
from simulators.faults import check_fault
from simulators.gate_model import BOOM_FAULTS, GateModel
from simulators.mqtt_device import CommandRejected, MqttDeviceSimulator

MQTT_GATE_FAULTS = BOOM_FAULTS | {"offline", "timeout"}
"""``noise`` is a serial line fault; ``timeout`` (commands silently ignored) is MQTT's."""


class MqttGateSimulator(MqttDeviceSimulator):
    """One :class:`GateModel` on the broker: retained state from the model, commands into it.

    Like the real gate it refuses ``close`` while the safety loop is occupied (ack error
    ``safety_loop_occupied``). While the ``offline`` fault is active it publishes nothing.
    """

    faults_supported = MQTT_GATE_FAULTS

    def __init__(self, model: GateModel, client: MqttClient, topics: Topics) -> None:
        super().__init__(client, topics, clock=model.clock, lane=model.lane, name=model.name)
        self.model = model
        self._last = model.status
        self._remove_listener: Callable[[], None] | None = None
        self._publishing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._last = self.model.status
        self._state = mqtt_gate.state_fields(self._last, self.model.auto_close_seconds)
        self._remove_listener = self.model.add_listener(self._on_model)
        await super().start()

    async def stop(self) -> None:
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        await super().stop()
        await self.model.aclose()

    @property
    def faults(self) -> frozenset[str]:
        return frozenset(self.active_faults | self.model.injected)

    async def inject(self, fault: str, active: bool = True) -> None:
        if fault in BOOM_FAULTS:
            check_fault(self, fault)
            self.model.apply_fault(fault, active)
            return
        await super().inject(fault, active)  # offline, timeout

    async def handle_command(self, cmd: dict[str, Any]) -> None:
        if cmd["op"] not in mqtt_gate.OPS:
            raise CommandRejected(f"unknown op {cmd['op']!r}")
        op, seconds = mqtt_gate.parse_command(cmd)
        model = self.model
        try:
            if op == mqtt_gate.OP_OPEN:
                model.command_open()
            elif op == mqtt_gate.OP_CLOSE:
                model.command_close()
            elif op == mqtt_gate.OP_STOP:
                model.command_stop()
            else:
                model.set_auto_close(seconds or 0)
                self._on_model(model.status)  # auto_close is in the state, the model does not report it
        except GateSafetyError:
            raise CommandRejected(mqtt_gate.ERROR_SAFETY) from None
        if self._publishing is not None:  # the new state goes out before the ack
            await asyncio.shield(self._publishing)

    def _on_model(self, status: GateStatus) -> None:
        before, self._last = self._last, status
        fields = mqtt_gate.state_fields(status, self.model.auto_close_seconds)
        if fields == self._state:
            return
        self._state = fields  # re-published by _announce when the offline fault ends
        if "offline" in self.active_faults:
            return
        self._publishing = self.spawn(self._publish(fields, mqtt_gate.status_events(before, status)))

    async def _publish(self, fields: dict[str, Any], events: list[dict[str, Any]]) -> None:
        await self.client.publish(self.topics.state, mqtt_codec.encode(fields), qos=1, retain=True)
        for body in events:
            await self.publish_event(body.pop("type"), **body)
