"""A whole simulated site: every device of N lanes on its real transport, in one process.

Gates, card printers and receipt printers sit on pseudo-terminals (gates on the broker instead with
``gate_transport="mqtt"``); payment terminals, biometric stations, e-KTP readers and displays talk MQTT
(to the given broker, or a broker of the site's own); the registry and cameras answer HTTP.
:meth:`SimulatedSite.config` tells a controller where everything is, and :meth:`write_config` writes it
as the TOML that ``lajur serve --config`` reads.

Every simulated MQTT device has its own connection and logs in with its own account, as real ones do:
a site's own broker (``broker_dir``) is started under the configuration ``lajur broker config`` writes
(its accounts' secrets in ``broker_dir/credentials``); a given broker (``mqtt_url``) is logged in to
with the secrets in ``credentials_dir``, or anonymously without.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devices.mqtt_access import Account, device_username, site_accounts
from devices.mqtt_codec import Topics
from devices.mqtt_secrets import CredentialsDir
from devices.transport.mqtt import MqttClient
from lane.clock import Clock
from lane.workflow import Station
from simulators.biometric import BiometricSimulator
from simulators.broker import EmbeddedBroker, SiteBrokerProcess, site_broker
from simulators.camera import CameraSimulator
from simulators.card_printer import CardPrinterSimulator
from simulators.card_reader import CardReaderSimulator
from simulators.display import DisplaySimulator
from simulators.faults import FaultInjectable
from simulators.gate import SerialGateSimulator
from simulators.gate_model import GateModel
from simulators.ledger import Ledger
from simulators.mqtt_device import simulator_client
from simulators.mqtt_gate import MqttGateSimulator
from simulators.payment import PaymentSimulator
from simulators.people import Person
from simulators.receipt_printer import ReceiptPrinterSimulator
from simulators.registry import RegistrySimulator

log = logging.getLogger(__name__)

MQTT_DEVICES = ("payment", "biometric", "card-reader")
GATES = ("entry-gate", "exit-gate")


def simulated_mqtt_devices(gate_transport: str = "serial") -> list[str]:
    """The devices of a simulated lane that talk MQTT."""
    gates = list(GATES) if gate_transport == "mqtt" else []
    return [*gates, *MQTT_DEVICES, *(f"display-{s.value}" for s in Station)]


@dataclass
class SimulatedLane:
    name: str
    entry_gate: GateModel
    exit_gate: GateModel
    entry_gate_sim: SerialGateSimulator | MqttGateSimulator
    exit_gate_sim: SerialGateSimulator | MqttGateSimulator
    card_printer: CardPrinterSimulator
    receipt_printer: ReceiptPrinterSimulator
    payment: PaymentSimulator
    biometric: BiometricSimulator
    card_reader: CardReaderSimulator
    displays: dict[str, DisplaySimulator]
    clients: list[MqttClient] = field(default_factory=list)
    more_card_printers: dict[str, CardPrinterSimulator] = field(default_factory=dict)
    """A second (third...) card printer by device name (``card-printer-2``, ...)."""

    def devices(self) -> dict[str, FaultInjectable]:
        """Every simulated device of the lane but the cameras, by its device name."""
        return {
            "entry-gate": self.entry_gate_sim, "exit-gate": self.exit_gate_sim, "card-printer": self.card_printer,
            "receipt-printer": self.receipt_printer, "payment": self.payment, "biometric": self.biometric,
            "card-reader": self.card_reader, **self.more_card_printers,
            **{f"display-{st}": d for st, d in self.displays.items()},
        }

    def device_config(self, camera: CameraSimulator) -> dict[str, dict[str, Any]]:
        devs: dict[str, dict[str, Any]] = {
            "entry-gate": _gate_config(self.entry_gate_sim),
            "exit-gate": _gate_config(self.exit_gate_sim),
            "card-printer": {"transport": "serial", "port": self.card_printer.port_path},
            **{name: {"transport": "serial", "port": sim.port_path} for name, sim in self.more_card_printers.items()},
            "receipt-printer": {"transport": "serial", "port": self.receipt_printer.port_path},
            "entry-camera": {"transport": "camera", "url": camera.snapshot_url(self.name, "entry-camera")},
            "exit-camera": {"transport": "camera", "url": camera.snapshot_url(self.name, "exit-camera")},
        }
        for name in (*MQTT_DEVICES, *(f"display-{s.value}" for s in Station)):
            devs[name] = {"transport": "mqtt"}
        return devs


def _gate_config(sim: SerialGateSimulator | MqttGateSimulator) -> dict[str, Any]:
    if isinstance(sim, MqttGateSimulator):
        return {"transport": "mqtt"}
    return {"transport": "serial", "port": sim.port_path}


class SimulatedSite:
    """``gate_transport`` puts every lane's gates on RS-485 pseudo-terminals (``serial``, the default)
    or on the broker (``mqtt``)."""

    def __init__(self, *, site: str, lanes: int, clock: Clock, mqtt_url: str | None = None,
                 ledger: Ledger | None = None, people: list[Person] | None = None,
                 gate_seconds: float = 3.0, gate_transport: str = "serial",
                 credentials_dir: Path | None = None, broker_dir: Path | None = None,
                 broker_port: int | None = None, print_seconds: float = 40.0, card_printers: int = 1) -> None:
        if gate_transport not in ("serial", "mqtt"):
            raise ValueError(f"gate_transport must be serial or mqtt, not {gate_transport!r}")
        self.gate_transport = gate_transport
        self.site = site
        self.lane_names = [f"lane-{i}" for i in range(1, lanes + 1)]
        self.clock = clock
        self.mqtt_url = mqtt_url
        self.ledger = ledger or Ledger()
        self.broker: SiteBrokerProcess | None = None
        self.broker_dir = broker_dir
        self.broker_port = broker_port
        self.credentials: CredentialsDir | None = None
        if credentials_dir is not None:
            self.credentials = CredentialsDir(credentials_dir)
        elif mqtt_url is None and broker_dir is not None:
            self.credentials = CredentialsDir(broker_dir / "credentials")
        self.registry = RegistrySimulator(people or [])
        self.camera = CameraSimulator()
        self.lanes: dict[str, SimulatedLane] = {}
        self.gate_seconds = gate_seconds
        self.print_seconds = print_seconds
        """Simulated seconds the card printers take for one card."""
        self.card_printers = card_printers
        """Card printers a lane (``card-printer``, ``card-printer-2``, ...)."""

    def accounts(self) -> list[Account]:
        """Every broker account of this site (:mod:`devices.mqtt_access`)."""
        devices = simulated_mqtt_devices(self.gate_transport)
        return site_accounts(self.site, {lane: devices for lane in self.lane_names})

    async def start(self) -> None:
        if self.credentials is not None:
            self.credentials.ensure(a.username for a in self.accounts())
        if self.mqtt_url is None:
            # A broker of the site's own: secured in broker_dir, else (tests of other things) anonymous.
            if self.broker_dir is None:
                self.broker = EmbeddedBroker(port=self.broker_port)
            else:
                self.broker = site_broker(self.broker_dir, self.site, self.accounts(), self.credentials,
                                          port=self.broker_port)
            await self.broker.start()
            self.mqtt_url = self.broker.url
        self.registry.start()
        self.camera.start()
        for name in self.lane_names:
            self.lanes[name] = await self._start_lane(name)

    async def _start_lane(self, lane: str) -> SimulatedLane:
        assert self.mqtt_url is not None
        clock, ledger = self.clock, self.ledger
        entry = GateModel(name="entry-gate", lane=lane, clock=clock, open_seconds=self.gate_seconds,
                          close_seconds=self.gate_seconds, ledger=ledger)
        exit_ = GateModel(name="exit-gate", lane=lane, clock=clock, open_seconds=self.gate_seconds,
                          close_seconds=self.gate_seconds, ledger=ledger)
        card = CardPrinterSimulator(clock=clock, lane=lane, ledger=ledger, print_seconds=self.print_seconds)
        more_cards = {f"card-printer-{n}": CardPrinterSimulator(f"card-printer-{n}", lane=lane, clock=clock,
                                                                ledger=ledger, print_seconds=self.print_seconds)
                      for n in range(2, self.card_printers + 1)}
        receipt = ReceiptPrinterSimulator(lane=lane, ledger=ledger)
        await card.start()
        for more in more_cards.values():
            await more.start()
        await receipt.start()

        clients: list[MqttClient] = []

        def client_for(device: str) -> tuple[MqttClient, Topics]:
            topics = Topics(self.site, lane, device)
            login = self.credentials.login(device_username(self.site, lane, device)) if self.credentials else None
            c = simulator_client(self.mqtt_url or "", topics, login=login)
            clients.append(c)
            return c, topics

        entry_sim: SerialGateSimulator | MqttGateSimulator
        exit_sim: SerialGateSimulator | MqttGateSimulator
        if self.gate_transport == "mqtt":
            entry_sim = MqttGateSimulator(entry, *client_for(entry.name))
            exit_sim = MqttGateSimulator(exit_, *client_for(exit_.name))
        else:
            entry_sim, exit_sim = SerialGateSimulator(entry), SerialGateSimulator(exit_)
            await entry_sim.start()
            await exit_sim.start()
        payment = PaymentSimulator(*client_for("payment"), clock, lane, ledger)
        biometric = BiometricSimulator(*client_for("biometric"), clock, lane, ledger)
        reader = CardReaderSimulator(*client_for("card-reader"), clock, lane, ledger)
        displays = {s.value: DisplaySimulator(*client_for(f"display-{s.value}"), clock, lane, ledger)
                    for s in Station}
        for c in clients:
            await c.start()
        for c in clients:
            await c.wait_connected(10)
        mqtt_sims: list[Any] = [payment, biometric, reader, *displays.values()]
        if self.gate_transport == "mqtt":
            mqtt_sims += [entry_sim, exit_sim]
        for sim in mqtt_sims:
            await sim.start()
        return SimulatedLane(lane, entry, exit_, entry_sim, exit_sim, card, receipt, payment, biometric, reader,
                             displays, clients, more_cards)

    async def stop(self) -> None:
        for sl in self.lanes.values():
            gates = (sl.entry_gate_sim, sl.exit_gate_sim)
            mqtt_gates = [g for g in gates if isinstance(g, MqttGateSimulator)]
            for sim in (sl.payment, sl.biometric, sl.card_reader, *sl.displays.values(), *mqtt_gates):
                try:
                    await sim.stop()
                except Exception:  # noqa: BLE001 - stop everything we can
                    log.exception("stopping %s", sim)
            for c in sl.clients:
                await c.stop()
            for s in (*(g for g in gates if isinstance(g, SerialGateSimulator)), sl.card_printer,
                      *sl.more_card_printers.values(), sl.receipt_printer):
                await s.stop()
            for g in (sl.entry_gate, sl.exit_gate):
                await g.aclose()
        self.camera.stop()
        self.registry.stop()
        if self.broker is not None:
            await self.broker.stop()

    def device(self, lane: str, device: str) -> FaultInjectable:
        """The simulated ``device`` of ``lane`` (``registry`` is the site's), to inject its faults;
        KeyError for an unknown lane or device."""
        if device == "registry":
            return self.registry
        if device in ("entry-camera", "exit-camera"):
            self.lanes[lane]  # noqa: B018 - KeyError for an unknown lane
            return self.camera.device(lane, device)
        return self.lanes[lane].devices()[device]

    # ------------------------------------------------------------ configuration for a controller
    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "site": self.site,
            "mqtt_url": self.mqtt_url,
            "registry_url": self.registry.url,
            "lanes": [{"name": n, "devices": sl.device_config(self.camera)} for n, sl in self.lanes.items()],
        }
        if self.credentials is not None:
            config["mqtt"] = {"credentials_dir": str(self.credentials.path.resolve())}
        return config

    def write_config(self, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
        path = Path(directory) / "lajur.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(to_toml({**self.config(), **(extra or {})}), encoding="utf-8")
        return path


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"cannot write {type(v)} to TOML")


def to_toml(data: dict[str, Any]) -> str:
    """Just enough TOML for a site file: scalars, tables, and an array of lane tables."""
    lines = ["# Written by `lajur sim site`: where each simulated device listens.", ""]
    for k, v in data.items():
        if not isinstance(v, dict | list) and v is not None:
            lines.append(f"{k} = {_toml_value(v)}")
    for k, v in data.items():
        if isinstance(v, dict):
            lines += ["", f"[{k}]"] + [f"{kk} = {_toml_value(vv)}" for kk, vv in v.items() if not isinstance(vv, dict)]
    for lane in data.get("lanes", []):
        lines += ["", "[[lanes]]", f"name = {_toml_value(lane['name'])}"]
        for dev, cfg in lane["devices"].items():
            lines += ["", f'[lanes.devices."{dev}"]'] + [f"{kk} = {_toml_value(vv)}" for kk, vv in cfg.items()]
    return "\n".join(lines) + "\n"
