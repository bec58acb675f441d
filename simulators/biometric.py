"""Simulated biometric station: photo, fingerprint and signature for one renewal.

A pluggable ``capturer`` — ``async (renewal_id) -> None`` — stands for the human at window 2
(default: ``capture_delay`` seconds of clock time, ~60 s). Faults: ``fail`` (the capture fails:
event ``capture_failed``), ``timeout``, ``offline``. A renewal already captured is re-announced. A
``delete`` forgets a renewal's captures, as a real station must once the card is printed (ledger
``biometrics_deleted``; ``captured`` holds only what the station still keeps).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from devices.biometric import codec
from devices.mqtt_codec import Topics
from devices.transport.mqtt import MqttClient
from lane.clock import Clock
from lane.ports import CaptureResult
from simulators.ledger import Ledger
from simulators.mqtt_device import CommandRejected, MqttDeviceSimulator

log = logging.getLogger(__name__)

Capturer = Callable[[str], Awaitable[None]]


class BiometricSimulator(MqttDeviceSimulator):
    faults_supported = frozenset({"offline", "timeout", "fail"})

    def __init__(
        self,
        client: MqttClient,
        topics: Topics,
        clock: Clock | None = None,
        lane: str = "lane-1",
        ledger: Ledger | None = None,
        *,
        capturer: Capturer | None = None,
        capture_delay: float = 60.0,
        name: str = codec.DEVICE,
    ) -> None:
        super().__init__(client, topics, clock=clock, lane=lane, ledger=ledger, name=name)
        self.capturer: Capturer = capturer or self._default_capturer
        self.capture_delay = capture_delay
        self.captured: dict[str, CaptureResult] = {}
        """Captures the station holds now, by renewal id (gone once the controller deletes them)."""
        self.deleted: set[str] = set()
        self._busy: dict[str, str] = {}
        """renewal id -> the id of the latest capture command for it: the result answers it."""

    async def start(self) -> None:
        self._state = {"status": "idle"}
        await super().start()

    async def _default_capturer(self, renewal_id: str) -> None:
        await self.clock.sleep(self.capture_delay)

    async def handle_command(self, cmd: dict[str, Any]) -> None:
        if cmd["op"] == codec.OP_DELETE:
            self._delete(codec.parse_capture(cmd))
            return
        if cmd["op"] != codec.OP_CAPTURE:
            raise CommandRejected(f"unknown op {cmd['op']!r}")
        renewal_id = codec.parse_capture(cmd)
        if renewal_id in self.captured:
            self.spawn(self._announce_captured(cmd["id"], self.captured[renewal_id]))
            return
        capturing = renewal_id in self._busy
        self._busy[renewal_id] = cmd["id"]
        if not capturing:
            self.spawn(self._capture(renewal_id))

    def _delete(self, renewal_id: str) -> None:
        """The station forgets the captures (a capture under way is not touched: it is not done)."""
        if self.captured.pop(renewal_id, None) is not None:
            self.deleted.add(renewal_id)
            if self.ledger is not None:
                self.ledger.record(self.lane, self.name, "biometrics_deleted", renewal_id=renewal_id)

    async def _capture(self, renewal_id: str) -> None:
        await self.publish_state(status="capturing", renewal_id=renewal_id)
        try:
            await self.capturer(renewal_id)
        finally:
            command = self._busy.pop(renewal_id)
        await self.publish_state(status="idle")
        if "fail" in self.faults:
            event = codec.failed_event(command, renewal_id, "capture_failed")
            await self.publish_event(event.pop("type"), **event)
            return
        result = CaptureResult(
            renewal_id=renewal_id,
            photo_ref=f"biometric/{renewal_id}/photo.jpg",
            fingerprint_ref=f"biometric/{renewal_id}/fingerprint.wsq",
            signature_ref=f"biometric/{renewal_id}/signature.png",
        )
        self.captured[renewal_id] = result
        if self.ledger is not None:
            self.ledger.record(self.lane, self.name, "biometrics_captured", renewal_id=renewal_id)
        await self._announce_captured(command, result)

    async def _announce_captured(self, command: str, result: CaptureResult) -> None:
        event = codec.captured_event(command, result)
        await self.publish_event(event.pop("type"), **event)


def main(argv: list[str] | None = None) -> int:
    """``lajur sim biometric --url mqtt://broker:1883 [--fault fail]``: serve until Ctrl-C."""
    from simulators.standalone import simulator_main

    return simulator_main(BiometricSimulator, codec.DEVICE, argv, prog="lajur sim biometric")


if __name__ == "__main__":  # pragma: no cover - technicians' tool
    import sys

    sys.exit(main())
