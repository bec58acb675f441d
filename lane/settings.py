"""One settings object, from a TOML file plus ``LAJUR_*`` environment variables.

Every number a site may need to correct (fees, budgets, ages, certificate validity, dispensation
windows) lives here, so rules change by configuration, not code. Environment variables win over the
file; nested values use ``__`` (``LAJUR_RULES__FEE_SIM_A=80000``). No other module reads a setting from
the environment; the one variable read aside is ``LAJUR_PASSWORD``, the password ``lajur user add`` takes
for a script instead of asking on the terminal (one command's input, not a setting of the site).
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from lane.errors import ConfigError

STAGE_BUDGETS_DEFAULT: dict[str, float] = {
    "queued": 300,
    "arriving": 30,
    "verifying": 120,
    "paying": 90,
    "capturing": 120,
    "printing": 120,
    "handing_over": 60,
    "exiting": 60,
}
HUMAN_TIMEOUTS_DEFAULT: dict[str, float] = {"card_reader": 600.0, "payment": 600.0, "biometric": 600.0}
WATCHDOGS_DEFAULT: dict[str, float] = {"passage": 60.0, "exit_arrival": 180.0}


class Dispensation(BaseModel):
    """A police-announced window: SIMs that expired between ``expired_from`` and ``expired_to`` may
    still be renewed until ``renew_until`` (e.g. a holiday closure)."""

    expired_from: date
    expired_to: date
    renew_until: date
    note: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> Dispensation:
        if self.expired_to < self.expired_from:
            raise ValueError("expired_to is before expired_from")
        return self


class RuleSettings(BaseModel):
    """Public rules as far as we know them (see spec/workflow.md); a site corrects them here."""

    classes_served: list[str] = Field(default_factory=lambda: ["A", "C"])
    fees: dict[str, int] = Field(default_factory=lambda: {"A": 80_000, "C": 75_000, "CI": 75_000, "CII": 75_000})
    min_age: dict[str, int] = Field(default_factory=lambda: {"A": 17, "C": 17, "CI": 18, "CII": 19})
    validity_years: int = 5
    health_certificate_days: int = 14
    psychology_certificate_months: int = 6
    insurance_fee: int = 50_000
    bpjs_check: bool = False
    dispensations: list[Dispensation] = Field(default_factory=list)

    @field_validator("classes_served")
    @classmethod
    def _known_classes(cls, v: list[str]) -> list[str]:
        bad = [c for c in v if c not in {"A", "C", "CI", "CII"}]
        if bad:
            raise ValueError(f"unknown SIM class(es) {bad}; known: A, C, CI, CII")
        return v


class LaneTiming(BaseModel):
    budgets: dict[str, float] = Field(default_factory=lambda: dict(STAGE_BUDGETS_DEFAULT))
    """Seconds each stage may take before the console is alerted. ``queued`` is the wait before the
    entry (the road queue's own budget); the others add up to the ten-minute promise."""
    visit_budget: float = 600
    """The promise: seconds from the entry (the gate opening for the vehicle) to the exit."""
    plate_min_confidence: float = Field(default=0.9, ge=0.0, le=1.0)
    """A plate read at least this confident (the camera's frames voted, ``vision.multiframe``) is bound to the
    visit without an officer. 0.9 is the reader's own "confident": its calibration is fitted so that 0.9
    means about 9 in 10 right, and on the held-out dev photographs every reading at 0.9 or more was right,
    while between 0.6 and 0.9 real plates were read wrong (``lajur bench binding``). Lower
    values bind more plates without an officer and more of them wrongly."""
    exit_plate_match: bool = False
    display_hold_seconds: float = Field(default=8.0, ge=0, le=120)
    """Simulated seconds a one-shot message (refusal, payment received, collect your card) stays on a
    driver display at least, unless the car moves on (``lane/displays.py``)."""
    print_ahead: bool = True
    """Send the card to the printer as soon as the photo is taken, while the vehicle drives up to window
    3 (off: only once it stands there). The driver then waits at window 3 only for the rest of the print."""
    device_timeout: float = 20.0
    """Wall seconds a device command may take before the stage is held."""
    human_timeouts: dict[str, float] = Field(default_factory=lambda: dict(HUMAN_TIMEOUTS_DEFAULT))
    """Simulated seconds a driver may take at a step that waits on a person (tapping the e-KTP, paying,
    the photo and fingerprint) before the step is held for an officer, by device."""
    watchdogs: dict[str, float] = Field(default_factory=lambda: dict(WATCHDOGS_DEFAULT))
    """Simulated seconds the lane waits for something from the road before it holds the visit and alerts:
    ``passage``, a vehicle driving under a boom opened for it (and clearing the safety loop);
    ``exit_arrival``, a vehicle sent to the exit reaching its arming loop."""

    @field_validator("budgets")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        return _seconds_by_name(v, STAGE_BUDGETS_DEFAULT, "stage")

    @field_validator("human_timeouts")
    @classmethod
    def _human_steps(cls, v: dict[str, float]) -> dict[str, float]:
        return _seconds_by_name(v, HUMAN_TIMEOUTS_DEFAULT, "step")

    @field_validator("watchdogs")
    @classmethod
    def _watched(cls, v: dict[str, float]) -> dict[str, float]:
        return _seconds_by_name(v, WATCHDOGS_DEFAULT, "watchdog")


def _seconds_by_name(given: dict[str, float], defaults: dict[str, float], what: str) -> dict[str, float]:
    """Positive seconds for known names only, the defaults filling in the names not given."""
    unknown = set(given) - set(defaults)
    if unknown:
        raise ValueError(f"unknown {what}(s) {sorted(unknown)}; known: {', '.join(defaults)}")
    if any(x <= 0 for x in given.values()):
        raise ValueError("times must be positive seconds")
    return {**defaults, **given}


class DeviceConfig(BaseModel):
    """Where one device is reached. ``transport`` is serial, mqtt, http or camera."""

    transport: Literal["serial", "mqtt", "http", "camera"]
    port: str | None = None
    """pyserial URL for serial devices."""
    baudrate: int = 9600
    address: int = 1
    url: str | None = None
    """HTTP base URL (registry) or camera snapshot/VideoCapture URL."""


class LaneConfig(BaseModel):
    name: str
    devices: dict[str, DeviceConfig] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _lane_name(cls, v: str) -> str:
        if not v.startswith("lane-") or not v[5:].isdigit():
            raise ValueError("lane names are lane-1, lane-2, ...")
        return v


class BrokerTls(BaseModel):
    """The broker's own side of ``mqtts://``, for ``lajur broker config`` only (the controller never reads it)."""

    cert_file: Path
    key_file: Path
    require_certificate: bool = True
    """Clients must show a certificate signed by the site's CA (``mqtt.ca_file``) besides their password."""


class MqttSettings(BaseModel):
    """How this controller logs in to the site's broker, and what ``lajur broker config`` writes for it."""

    credentials_dir: Path | None = None
    """The site's private MQTT secrets, one file per account (``<site>.<lane>.<device>``, ``<site>.controller``,
    ``<site>.technician``), made once by ``lajur broker config``. Unset: connect without a login (a
    development broker)."""
    controllers: list[str] = Field(default_factory=lambda: ["controller"])
    """One broker account per controller process (``<site>.<name>``): a process's account is also its client id."""
    controller: str | None = None
    """Which of ``controllers`` this process logs in as (``LAJUR_MQTT__CONTROLLER``); default the first."""
    ca_file: Path | None = None
    """The site's CA for ``mqtts://`` (unset: the system's CAs)."""
    cert_file: Path | None = None
    """This controller's client certificate, where the broker requires one (with ``key_file``)."""
    key_file: Path | None = None
    max_payload: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    """Bytes of the largest MQTT message, for the controller's client and the broker (a lane's largest
    is under 1 KiB); anything longer is dropped unread."""
    broker_tls: BrokerTls | None = None

    @field_validator("controllers")
    @classmethod
    def _some_controller(cls, v: list[str]) -> list[str]:
        if not v or len(set(v)) != len(v):
            raise ValueError("name one controller account or more, each once")
        return v

    @model_validator(mode="after")
    def _known_controller(self) -> MqttSettings:
        if self.controller is not None and self.controller not in self.controllers:
            raise ValueError(f"controller {self.controller!r} is not one of controllers {self.controllers}")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAJUR_", env_nested_delimiter="__", extra="forbid")

    site: str = "mpp-batang"
    site_name: str | None = None
    """The site as people name it, on printed reports and the drivers' status page (e.g. "MPP Kabupaten
    Batang"); unset: the site id."""
    database_url: str = "sqlite:///var/lajur.db"
    database_writer: bool = True
    """Commits run on the store's own thread, in order, so the event loop the lanes share never waits
    for the database (``lane/persistence/writer.py``). False: each commit on the loop, as before it
    (kept to measure the difference: ``lajur bench load --compare-writer``)."""
    mqtt_url: str | None = None
    registry_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    speed: float = 1.0
    gate_poll_interval: float | None = Field(default=None, gt=0.005, le=5.0)
    """Wall seconds between gate status polls (hardware default 100 ms). Unset: 100 ms, or faster in a
    speeded-up simulation so a simulated second of boom movement is still seen."""
    plate_format: Literal["id", "generic"] = "id"
    plate_samples_dir: Path | None = None
    """Where plate crops an officer confirmed, typed or corrected are kept with the officer's plate, as the
    reader's training and test data (``lane/plate_samples.py``). Unset: nothing is kept."""
    plate_models_dir: Path | None = None
    """A site's own learned files for the plate reader (networks retrained on the kept crops, with their
    calibration), read before the shipped ones (``vision/models.py``). Unset: the shipped files."""
    public_url: str | None = None
    """The address drivers' phones reach this console at (e.g. ``https://sim.mpp-batang.go.id``), for the
    status page's QR on the receipt. Unset: ``http://<host>:<port>`` (reachable only on the site's network)."""
    status_link_minutes: float = Field(default=60.0, ge=0, le=24 * 60)
    """How long a driver's status page still answers after the visit ended; then the link has expired."""
    timezone: str = "Asia/Jakarta"
    """The site's time zone (IANA name): what "today" and the hours of the reports mean (WIB by default)."""
    secret_key: SecretStr | None = None
    """Signs console sessions. Unset: a key generated once and kept in ``<data_dir>/secret_key`` (0600),
    so a restart keeps everyone's session; set it where several controller processes on different
    machines serve one site."""
    data_dir: Path | None = None
    """Where the service keeps its private files (the console's secret key): a 0700 directory of the
    service's user. Unset: the SQLite database's directory, or ``var`` with another database."""
    personal_data_days: float = Field(default=30.0, ge=0, le=3650)
    """Days a visit's personal data (NIK, name, SIM number, plate) are kept after it ended; then the
    controller erases them (hourly, and ``lajur db purge``), keeping anonymised figures for the
    reports (UU 27/2022). 0: erased at the next purge after the visit."""
    lease_seconds: float = Field(default=15.0, gt=0, le=3600)
    """How long a controller's hold on a lane lasts unrenewed: after that another controller process may
    take the lane over (it is renewed every third of this)."""
    vision_engine: str | None = None
    """What runs the plate networks: ``onnxruntime`` or ``opencv`` (``cv2.dnn``); unset: onnxruntime
    where installed. Anything else stops every command that reads plates with one line."""
    sim_officer_user: str = "sim-officer"
    """The account the virtual officers of ``lajur sim site --api URL`` log in with at that console."""
    sim_officer_password: SecretStr | None = None
    reprint_approval: bool = False
    """A reprint asked by an officer waits for a supervisor's approval before a second card blank is
    used (a supervisor's own reprint needs no other). Off: the officer's reason is enough."""
    preferred_lanes: list[str] = Field(default_factory=list)
    """Where several controller processes share a site: the lanes this one takes at start. Any other lane
    it takes only once it has run ``lease_seconds`` (its own controller had the time to take it) and
    nobody holds a live lease on it: the lanes of a controller that died. Empty: every lane at once."""
    demo_password: SecretStr | None = None
    """The password ``lajur demo`` gives its accounts (unset: a fresh one each run, printed at start)."""
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    rules: RuleSettings = Field(default_factory=RuleSettings)
    timing: LaneTiming = Field(default_factory=LaneTiming)
    lanes: list[LaneConfig] = Field(default_factory=list)

    def private_dir(self) -> Path:
        """``data_dir``, or where the SQLite database lives, or ``var``."""
        if self.data_dir is not None:
            return self.data_dir
        sqlite_file = sqlite_path(self.database_url)
        return sqlite_file.parent if sqlite_file is not None else Path("var")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as Asia/Jakarta)") from exc
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file (passed as init kwargs by load_settings).
        return (env_settings, init_settings)


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite database URL (None: another database, or SQLite in memory)."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        return Path(url.removeprefix("sqlite:///").split("?", 1)[0]).expanduser()
    return None


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read ``path`` (TOML) if given, apply ``LAJUR_*`` variables, then ``overrides``.

    Raises ConfigError with a message naming the file and the field, never a raw traceback.
    """
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"configuration file not found: {p}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start})") from exc
        except OSError as exc:
            raise ConfigError(f"{p}: cannot read: {exc}") from exc
    try:
        settings = Settings(**data)
        if overrides:
            settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        where = f"{path}: " if path else ""
        problems = "; ".join(
            f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{where}invalid configuration: {problems}") from exc
    return settings
