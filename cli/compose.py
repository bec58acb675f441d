"""Composition root: turns settings into running drivers, controllers and the API.

The one place that knows every layer. `serve` and `demo` both go through :class:`Site`, so a demo
exercises exactly the wiring a production lane uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError

from api.app import create_app
from api.auth import secret_from_file
from api.server import ApiServer
from cli.broker import controller_client
from devices.biometric.driver import MqttBiometricStation
from devices.camera.driver import FrameSource, ReadingCamera
from devices.card_printer.driver import SerialCardPrinter
from devices.card_reader.driver import MqttCardReader
from devices.display.driver import MqttDisplay
from devices.gate.mqtt_driver import MqttBarrierGate
from devices.gate.serial_driver import SerialBarrierGate
from devices.mqtt_codec import Topics
from devices.payment.driver import MqttPaymentTerminal
from devices.receipt_printer.driver import SerialReceiptPrinter
from devices.registry.client import HttpLicenceRegistry
from devices.transport.mqtt import MqttClient
from devices.transport.serial import SerialTransport
from lane.clock import Clock
from lane.controller import LaneController, LaneDevices
from lane.errors import ConfigError, PersistenceError
from lane.events import EventBus
from lane.persistence import Store, upgrade_database
from lane.privacy import purge_loop
from lane.settings import DeviceConfig, LaneConfig, Settings
from lane.workflow import Station
from vision.models import ModelDirectoryError, use_directory
from vision.onnx_net import EngineSettingError, default_engine, use_engine
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


def job_poll_interval_for(speed: float) -> float:
    """How often a printing card is asked after: every 100 ms as for a real printer, more often on a
    speeded-up clock so that a card is still seen within about half a simulated second of coming out
    (a day's simulation runs a hundred times faster; at 100 ms a poll would be ten simulated seconds)."""
    return max(0.005, min(0.1, 0.5 / max(speed, 1.0)))


@dataclass
class Site:
    """Every lane of one controller process, with its database, broker client, registry and API."""

    settings: Settings
    clock: Clock
    poll_interval: float = 0.1
    bus: EventBus = field(default_factory=EventBus)
    controllers: dict[str, LaneController] = field(default_factory=dict)
    """The lanes this process drives right now (only those it holds the lease on)."""
    instance: str | None = None
    """This controller's name in the lane leases: stable across a restart (``serve`` uses host:port)
    so a restarted process takes its lanes back at once; two live processes need different names."""

    def __post_init__(self) -> None:
        self.instance = self.instance or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.store: Store | None = None
        self._reader: PlateReader | None = None
        self._lane_devs: dict[str, list[Any]] = {}
        self._renewed: dict[str, float] = {}
        self._lease_task: asyncio.Task[None] | None = None
        self._journal_task: asyncio.Task[None] | None = None
        self._purge_task: asyncio.Task[None] | None = None
        self._lease_lock = asyncio.Lock()
        self._started = time.monotonic()
        self.mqtt: MqttClient | None = None
        self.registry: HttpLicenceRegistry | None = None
        self.server: ApiServer | None = None
        self._devices: list[Any] = []
        self._cameras: list[ReadingCamera] = []
        self.plate_models: list[str] = []
        """The learned files the plate reader takes from ``plate_models_dir`` (empty: all shipped)."""

    async def start(self) -> None:
        s = self.settings
        if not s.lanes:
            raise ConfigError("no lanes configured")
        if not s.mqtt_url:
            raise ConfigError("mqtt_url is not set (LAJUR_MQTT_URL or mqtt_url in the file)")
        if not s.registry_url:
            raise ConfigError("registry_url is not set (LAJUR_REGISTRY_URL or registry_url in the file)")
        try:  # the plate networks' engine (LAJUR_VISION_ENGINE) and files: wrong is a start-up error
            use_engine(s.vision_engine)
            default_engine()
            self.plate_models = use_directory(s.plate_models_dir)
        except (EngineSettingError, ModelDirectoryError) as exc:
            raise ConfigError(str(exc)) from exc
        self._started = time.monotonic()
        upgrade_database(s.database_url)
        self.store = Store(s.database_url)
        if s.database_writer:
            self.store.start_writer()  # no commit blocks the event loop the lanes share (lane.persistence.writer)
        for lane in s.lanes:
            with contextlib.suppress(IntegrityError):  # another controller process added it just now
                self.store.ensure_lane(lane.name, s.site)
        self.mqtt = controller_client(s, self.instance)
        await self.mqtt.start()
        self.registry = HttpLicenceRegistry(s.registry_url)
        self._reader = PlateReader(s.plate_format)
        for lane in s.lanes:  # configuration errors show at start, for every lane, owned or not
            for name in REQUIRED:
                if name not in lane.devices:
                    raise ConfigError(f"{lane.name}: device {name!r} is not configured")
        with contextlib.suppress(TimeoutError):
            await self.mqtt.wait_connected(10, or_refused=True)
        if self.mqtt.refusal is not None:  # a broker that is down is waited for; one that says no is a setting
            raise ConfigError(f"the MQTT broker at {s.mqtt_url} refused {self.mqtt.client_id}: {self.mqtt.refusal} "
                              "(its secret in [mqtt] credentials_dir, and the broker's passwd and acl from "
                              "`lajur broker config`, must match)")
        await self._leases(starting=True)
        self._lease_task = asyncio.create_task(self._lease_loop(), name="lane-leases")
        self._journal_task = asyncio.create_task(self._journal_loop(), name="database-journal")
        # personal data kept personal_data_days after a visit, then erased (lane/privacy.py)
        self._purge_task = asyncio.create_task(purge_loop(self.store, self.clock, s), name="personal-data-purge")
        # What is alive now (modules, the plate model, drivers, settings) lives as long as the process:
        # out of the collector's sight, so a full collection no longer walks it. At 32 lanes such a
        # collection stopped the event loop for ~100 ms (`lajur bench load` reports the pauses).
        gc.collect()
        gc.freeze()

    # ------------------------------------------------------------ lane leases (many controllers, one database)
    async def _leases(self, starting: bool = False) -> None:
        """Renew the leases this process holds and try to take free or expired ones. A lane is
        driven by one controller at a time: its devices (serial ports included) are opened only
        once the lease is ours, and a lane whose lease could not be renewed in time is stopped
        before another process may take it over (its visits resume there from the database)."""
        assert self.store is not None and self.instance is not None
        async with self._lease_lock:
            # Records kept while the database was away go in first: a lane (re)started here
            # resumes from what they say.
            if self.store.degraded and not await asyncio.to_thread(self.store.replay):
                log.warning("database still away (%d records wait); leases not renewed", self.store.journal_size)
            preferred = set(self.settings.preferred_lanes)
            for lane in self.settings.lanes:
                name = lane.name
                if (preferred and name not in preferred and name not in self.controllers
                        and time.monotonic() - self._started < self.settings.lease_seconds):
                    continue  # another controller's lane: left to it for a lease's length
                try:
                    ours = await self.store.run(self.store.try_lease, name, self.instance,
                                                self.settings.lease_seconds)
                except PersistenceError as exc:
                    log.warning("lease on %s not renewed: %s", name, exc)
                    ours = name in self.controllers and (
                        time.monotonic() - self._renewed.get(name, 0.0) < self.settings.lease_seconds * 0.8)
                if ours:
                    self._renewed[name] = time.monotonic()
                    if name not in self.controllers:
                        # At start-up taking a lane is the normal case; later it means a lane moved
                        # here (another controller stopped renewing), which technicians should see.
                        log.log(logging.INFO if starting else logging.WARNING,
                                "%s: lease %s by %s; starting its controller", name,
                                "taken" if starting else "taken over", self.instance)
                        await self._start_lane(lane)
                elif name in self.controllers:
                    log.warning("%s: lease lost by %s; stopping its controller", name, self.instance)
                    await self._stop_lane(name)

    async def _journal_loop(self) -> None:
        """While the database is away, try every half second to write what the store kept (in a
        thread: a reconnect may take seconds, the lanes must not wait for it)."""
        assert self.store is not None
        while True:
            await asyncio.sleep(0.5)
            if self.store.degraded:
                try:
                    await asyncio.to_thread(self.store.replay)
                except Exception:  # noqa: BLE001 - keep trying; logged
                    log.exception("database journal replay")

    async def _lease_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_seconds / 3)
            try:
                await self._leases()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the lease loop must keep running; logged
                log.exception("lease loop")

    async def _start_lane(self, lane: LaneConfig) -> None:
        assert self.store is not None and self._reader is not None
        devices = self._lane_devices(lane, self._reader)
        self._lane_devs[lane.name] = devices.all_devices()
        for dev in devices.all_devices():
            await dev.start()
        ctl = LaneController(lane.name, devices, self.store, self.clock, self.settings, self.bus)
        await ctl.start()
        self.controllers[lane.name] = ctl

    async def _stop_lane(self, name: str) -> None:
        ctl = self.controllers.pop(name, None)
        if ctl is not None:
            await ctl.stop()
        devs = self._lane_devs.pop(name, [])
        self._devices = [d for d in self._devices if all(d is not x for x in devs)]
        for dev in devs:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(dev.stop(), 5)

    def _lane_devices(self, lane: LaneConfig, reader: PlateReader) -> LaneDevices:
        assert self.mqtt is not None and self.registry is not None
        site = self.settings.site

        def serial(name: str) -> SerialTransport:
            cfg = _need(lane, name, "serial")
            return SerialTransport(cfg.port or "", baudrate=cfg.baudrate, name=f"{lane.name}/{name}")

        def gate(name: str) -> SerialBarrierGate | MqttBarrierGate:
            cfg = lane.devices.get(name)
            if cfg is not None and cfg.transport == "mqtt":
                return MqttBarrierGate(self.mqtt, mqtt(name), name)
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

        def card_printer(name: str) -> SerialCardPrinter:
            return SerialCardPrinter(name, serial(name), job_poll_interval=job_poll_interval_for(self.clock.speed))

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
            card_printer=card_printer("card-printer"),
            more_card_printers={name: card_printer(name) for name in sorted(lane.devices)
                                if name.startswith("card-printer-")},
            registry=self.registry,
            displays=displays,
        )
        self._devices.extend(devices.all_devices())
        return devices

    def serve_api(self, host: str, port: int) -> str:
        """Serve the console and API on this loop, beside the lanes (``api.server``); returns its URL.
        Raises OSError when ``host:port`` cannot be bound."""
        assert self.store is not None
        s = self.settings
        secret = (s.secret_key.get_secret_value() if s.secret_key is not None
                  else secret_from_file(s.private_dir() / "secret_key"))
        app = create_app(self.store, self.controllers, settings=s, bus=self.bus, secret=secret)
        self.server = ApiServer(app, host, port)
        self.server.start()
        if s.public_url is None:
            # The QR on a receipt needs a full address: without the site's public one (set it where
            # drivers' phones reach the console), the address this console answers at.
            s.public_url = self.server.url
        return self.server.url

    async def stop(self) -> None:
        for task in (self._lease_task, self._journal_task, self._purge_task):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.server:
            await self.server.stop()
        for ctl in self.controllers.values():
            await ctl.stop()
        if self.store and self.instance:
            for name in self.controllers:  # hand the lanes over at once (a zero-length lease)
                with contextlib.suppress(PersistenceError):
                    self.store.try_lease(name, self.instance, 0)
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
            if self.store.degraded and not await asyncio.to_thread(self.store.replay):
                log.error("stopping with the database away: %d records not written (the lanes resume from "
                          "the last state it has)", self.store.journal_size)
            self.store.close()
