"""Composition root: turns settings into running drivers, controllers and the API.

The one place that knows every layer. `serve` and `demo` both go through :class:`Site`, so a demo
exercises exactly the wiring a production lane uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass, field
from typing import Any

from devices.card_printer.driver import SerialCardPrinter
from devices.receipt_printer.driver import SerialReceiptPrinter

from api.app import create_app
from devices.biometric.driver import MqttBiometricStation
from devices.camera.driver import FrameSource, ReadingCamera
from devices.card_reader.driver import MqttCardReader
from devices.display.driver import MqttDisplay
from devices.gate.serial_driver import SerialBarrierGate
from devices.mqtt_codec import Topics
from devices.payment.driver import MqttPaymentTerminal
from devices.registry.client import HttpLicenceRegistry
from devices.transport.mqtt import MqttClient
from devices.transport.serial import SerialTransport
from lane.clock import Clock
from lane.controller import LaneController, LaneDevices
from lane.errors import ConfigError
from lane.events import EventBus
from lane.persistence import Store, upgrade_database
from lane.settings import DeviceConfig, LaneConfig, Settings
from lane.workflow import Station
from simulators.http_server import ThreadedServer
from vision.reader import PlateReader

log = logging.getLogger(__name__)

REQUIRED = ("entry-gate", "exit-gate", "entry-camera", "card-reader", "payment", "receipt-printer", "biometric",
            "card-printer")


def _need(lane: LaneConfig, name: str, transport: str) -> DeviceConfig:
    cfg = lane.devices.get(name)
    if cfg is None:
        raise ConfigError(f"{lane.name}: device {name!r} is not configured")
    if cfg.transport != transport:
        raise ConfigError(f"{lane.name}: device {name!r} over {cfg.transport} is not supported (use {transport})")
    if transport == "serial" and not cfg.port:
        raise ConfigError(f"{lane.name}: serial device {name!r} needs a port")
    if transport == "camera" and not cfg.url:
        raise ConfigError(f"{lane.name}: camera {name!r} needs a url")
    return cfg


@dataclass
class Site:
    """Every lane of one controller process, with its database, broker client, registry and API."""

    settings: Settings
    clock: Clock
    poll_interval: float = 0.1
    bus: EventBus = field(default_factory=EventBus)
    controllers: dict[str, LaneController] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.store: Store | None = None
        self.mqtt: MqttClient | None = None
        self.registry: HttpLicenceRegistry | None = None
        self.server: ThreadedServer | None = None
        self._devices: list[Any] = []
        self._cameras: list[ReadingCamera] = []

    async def start(self) -> None:
        s = self.settings
        if not s.lanes:
            raise ConfigError("no lanes configured")
        if not s.mqtt_url:
            raise ConfigError("mqtt_url is not set (LAJUR_MQTT_URL or mqtt_url in the file)")
        if not s.registry_url:
            raise ConfigError("registry_url is not set (LAJUR_REGISTRY_URL or registry_url in the file)")
        upgrade_database(s.database_url)
        self.store = Store(s.database_url)
        self.mqtt = MqttClient(s.mqtt_url, f"lajur-controller-{s.site}-{socket.gethostname()}")
        await self.mqtt.start()
        self.registry = HttpLicenceRegistry(s.registry_url)
        reader = PlateReader(s.plate_format)
        for lane in s.lanes:
            devices = self._lane_devices(lane, reader)
            for dev in devices.all_devices():
                await dev.start()
            self.controllers[lane.name] = LaneController(lane.name, devices, self.store, self.clock, s, self.bus)
        with contextlib.suppress(TimeoutError):
            await self.mqtt.wait_connected(10)
        for ctl in self.controllers.values():
            await ctl.start()

    def _lane_devices(self, lane: LaneConfig, reader: PlateReader) -> LaneDevices:
        assert self.mqtt is not None and self.registry is not None
        site = self.settings.site

        def serial(name: str) -> SerialTransport:
            cfg = _need(lane, name, "serial")
            return SerialTransport(cfg.port or "", baudrate=cfg.baudrate, name=f"{lane.name}/{name}")

        def gate(name: str) -> SerialBarrierGate:
            cfg = _need(lane, name, "serial")
            return SerialBarrierGate(name, serial(name), address=cfg.address, poll_interval=self.poll_interval)

        def mqtt(name: str) -> Topics:
            _need(lane, name, "mqtt")
            return Topics(site, lane.name, name)

        def camera(name: str) -> ReadingCamera:
            cfg = _need(lane, name, "camera")
            cam = ReadingCamera(name, FrameSource(cfg.url or ""), reader,
                                min_confidence=max(0.5, self.settings.timing.plate_min_confidence))
            self._cameras.append(cam)
            return cam

        for name in REQUIRED:
            if name not in lane.devices:
                raise ConfigError(f"{lane.name}: device {name!r} is not configured")
        displays = {s.value: MqttDisplay(self.mqtt, Topics(site, lane.name, f"display-{s.value}"))
                    for s in Station if f"display-{s.value}" in lane.devices}
        devices = LaneDevices(
            entry_gate=gate("entry-gate"),
            exit_gate=gate("exit-gate"),
            entry_camera=camera("entry-camera"),
            exit_camera=camera("exit-camera") if "exit-camera" in lane.devices else None,
            card_reader=MqttCardReader(self.mqtt, mqtt("card-reader")),
            payment=MqttPaymentTerminal(self.mqtt, mqtt("payment")),
            receipt_printer=SerialReceiptPrinter("receipt-printer", serial("receipt-printer")),
            biometric=MqttBiometricStation(self.mqtt, mqtt("biometric")),
            card_printer=SerialCardPrinter("card-printer", serial("card-printer")),
            registry=self.registry,
            displays=displays,
        )
        self._devices.extend(devices.all_devices())
        return devices

    def serve_api(self, host: str, port: int) -> str:
        assert self.store is not None
        app = create_app(self.store, self.controllers)
        self.server = ThreadedServer(app, host, port)
        self.server.start()
        return self.server.url

    async def stop(self) -> None:
        if self.server:
            self.server.stop()
        for ctl in self.controllers.values():
            await ctl.stop()
        for dev in self._devices:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(dev.stop(), 5)
        for cam in self._cameras:
            await cam.close()
        if self.registry:
            await self.registry.close()
        if self.mqtt:
            await self.mqtt.stop()
        if self.store:
            self.store.close()
