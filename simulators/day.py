"""A day to simulate before opening: when cars arrive, how long each step takes, who serves where.

A :class:`DayProfile` is what ``lajur twin`` runs: cars arriving per hour of the site's day (a
Poisson process within each hour), the median time of each human and device step, the share of
drivers who will be refused, and which officer serves which window. It comes from a file a site
manager writes (:func:`load_profile`, CSV or TOML, described in :data:`PROFILE_HELP`) or from the
site's own history (:mod:`simulators.history`).
"""

from __future__ import annotations

import csv
import io
import random
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lane.errors import ConfigError
from lane.i18n import N_
from simulators.traffic import HumanTimes

WINDOWS = ("window-1", "window-2", "window-3")
DEFAULT_STAFF: dict[str, str] = {"window-1": "A", "window-2": "B", "window-3": "C"}
"""One officer a window: the verifier and cashier at window 1, the photographer at window 2, and
the one who checks and hands over the card at window 3."""

STEP_NAMES = ("drive_up", "gate_pass", "tap_ektp", "pay", "drive_between", "capture", "handover")
DEVICE_STEPS = {"print_card": 40.0, "gate": 3.0}
"""Device times (simulated seconds): a card printed, a boom opening or closing."""

PROFILE_HELP = """\
Profile file (--profile FILE): cars arriving per hour of the site's day, in the site's time zone.

  CSV, a header line then one line an hour:      TOML, the same and optionally more:
      hour,arrivals                                   name = "Senin biasa"
      08,18                                           [arrivals]          # cars per hour
      09,30                                           "08" = 18
      10,26                                           "09" = 30
                                                      [times]             # median seconds
                                                      capture = 80
                                                      print_card = 55
                                                      [staff]             # officer per window
                                                      window-2 = "B"
                                                      window-3 = "B"      # one serves both
                                                      [drivers]
                                                      refused_share = 0.1

Hours run 0-23 (08 or 8 or 08:00); the day opens at the first hour listed and the last arrivals
come before the end of the last one; cars already waiting are still served. An hour not listed has
no arrivals. Arrivals are random within each hour (Poisson) with that hour's mean, the same for
every scenario of one run (--seed).

Steps and their default medians in seconds (each car's time is drawn log-normal around it, spread
0.3): drive_up 4, gate_pass 4, tap_ektp 25 (e-KTP and documents at window 1), pay 40, drive_between
12, capture 70 (photo, fingerprint, signature at window 2), handover 20 (card checked and handed over
at window 3), print_card 40 (the card printer), gate 3 (a boom opening or closing).
refused_share (default 0.1): drivers refused at window 1 (expired SIM, someone else's e-KTP, an old
health certificate), who leave by the exit. Without --profile, --history takes all of this from the
site's database instead.
"""


@dataclass(frozen=True)
class DayProfile:
    """One day's demand and the times of its steps."""

    arrivals: dict[int, float]
    """Local hour (0-23) -> mean cars arriving in that hour."""
    name: str = "profile"
    times: HumanTimes = field(default_factory=HumanTimes)
    print_seconds: float = DEVICE_STEPS["print_card"]
    gate_seconds: float = DEVICE_STEPS["gate"]
    staff: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_STAFF))
    refused_share: float = 0.1
    sources: dict[str, str] = field(default_factory=dict)
    """Step -> where its time came from ("history (n=83)", "profile", "default"), for the report."""

    def __post_init__(self) -> None:
        if not self.arrivals or not any(v > 0 for v in self.arrivals.values()):
            raise ConfigError("the profile has no arrivals")
        bad = [h for h in self.arrivals if not 0 <= h <= 23]
        if bad:
            raise ConfigError(f"hours run 0-23, not {bad}")
        if any(v < 0 for v in self.arrivals.values()):
            raise ConfigError("arrivals per hour cannot be negative")
        if not 0.0 <= self.refused_share <= 1.0:
            raise ConfigError(f"refused_share is a share between 0 and 1, not {self.refused_share}")
        unknown = set(self.staff) - set(WINDOWS)
        if unknown:
            raise ConfigError(f"staff: unknown window(s) {sorted(unknown)}; windows: {', '.join(WINDOWS)}")

    @property
    def opens(self) -> int:
        return min(h for h, v in self.arrivals.items() if v > 0)

    @property
    def closes(self) -> int:
        """The hour after the last one with arrivals."""
        return max(h for h, v in self.arrivals.items() if v > 0) + 1

    @property
    def expected_cars(self) -> float:
        return sum(self.arrivals.values())

    def with_staff(self, staff: dict[str, str]) -> DayProfile:
        return replace(self, staff={**self.staff, **staff})

    def arrival_offsets(self, seed: int) -> list[float]:
        """Seconds after opening at which cars arrive: a Poisson process with each hour's own rate."""
        rng = random.Random(seed)
        out: list[float] = []
        for hour in range(self.opens, self.closes):
            rate = self.arrivals.get(hour, 0.0)
            if rate <= 0:
                continue
            t = 0.0
            while True:
                t += rng.expovariate(rate / 3600.0)
                if t >= 3600.0:
                    break
                out.append((hour - self.opens) * 3600.0 + t)
        return out


def parse_hour(text: Any) -> int:
    """``8``, ``"08"`` or ``"08:00"`` -> 8."""
    s = str(text).strip()
    if ":" in s:
        s, minutes = s.split(":", 1)
        if minutes.strip() not in ("00", "0"):
            raise ConfigError(f"hours are whole hours (08 or 08:00), not {text!r}")
    try:
        hour = int(s)
    except ValueError as exc:
        raise ConfigError(f"{text!r} is not an hour (0-23)") from exc
    if not 0 <= hour <= 23:
        raise ConfigError(f"hours run 0-23, not {hour}")
    return hour


def _number(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: {value!r} is not a number") from exc
    if number != number or number < 0:
        raise ConfigError(f"{what}: {value!r} must be zero or more")
    return number


def _arrivals_csv(text: str) -> dict[int, float]:
    rows = [r for r in csv.reader(io.StringIO(text)) if r and any(c.strip() for c in r)
            and not r[0].lstrip().startswith("#")]
    if not rows:
        raise ConfigError("the CSV profile is empty")
    header = [c.strip().lower() for c in rows[0]]
    if header[:2] != ["hour", "arrivals"]:
        raise ConfigError(f"the CSV profile starts with the line 'hour,arrivals', not {','.join(rows[0])!r}")
    arrivals: dict[int, float] = {}
    for n, row in enumerate(rows[1:], start=2):
        if len(row) < 2:
            raise ConfigError(f"line {n}: 'hour,arrivals' expected, got {','.join(row)!r}")
        hour = parse_hour(row[0])
        if hour in arrivals:
            raise ConfigError(f"line {n}: hour {hour:02d} is listed twice")
        arrivals[hour] = _number(row[1], f"line {n}")
    return arrivals


def _profile_toml(data: dict[str, Any]) -> dict[str, Any]:
    known = {"name", "arrivals", "times", "staff", "drivers"}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)}; known: {', '.join(sorted(known))}")
    if not isinstance(data.get("arrivals"), dict):
        raise ConfigError("an [arrivals] table (hour = cars) is needed")
    arrivals = {}
    for key, value in data["arrivals"].items():
        hour = parse_hour(key)
        if hour in arrivals:
            raise ConfigError(f"[arrivals]: hour {hour:02d} is listed twice")
        arrivals[hour] = _number(value, f"[arrivals] {key}")
    out: dict[str, Any] = {"arrivals": arrivals}
    if "name" in data:
        out["name"] = str(data["name"])
    times = data.get("times", {})
    if not isinstance(times, dict):
        raise ConfigError("[times] is a table of step = seconds")
    unknown = set(times) - set(STEP_NAMES) - set(DEVICE_STEPS)
    if unknown:
        raise ConfigError(f"[times]: unknown step(s) {sorted(unknown)}; steps: "
                          f"{', '.join((*STEP_NAMES, *DEVICE_STEPS))}")
    seconds = {k: _number(v, f"[times] {k}") for k, v in times.items()}
    if any(v <= 0 for v in seconds.values()):
        raise ConfigError("[times]: every step takes more than 0 seconds")
    out["times"] = seconds
    staff = data.get("staff", {})
    if not isinstance(staff, dict) or not all(isinstance(v, str) and v for v in staff.values()):
        raise ConfigError('[staff] is a table of window = "officer"')
    out["staff"] = staff
    drivers = data.get("drivers", {})
    if not isinstance(drivers, dict) or set(drivers) - {"refused_share"}:
        raise ConfigError("[drivers] takes refused_share only")
    if "refused_share" in drivers:
        out["refused_share"] = _number(drivers["refused_share"], "[drivers] refused_share")
    return out


def load_profile(path: str | Path) -> DayProfile:
    """Read a profile (``.csv`` or ``.toml``); ConfigError naming the file and the problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"profile not found: {p}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text") from exc
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc}") from exc
    try:
        if p.suffix.lower() == ".toml":
            try:
                fields = _profile_toml(tomllib.loads(text))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"not valid TOML: {exc}") from exc
        elif p.suffix.lower() == ".csv":
            fields = {"arrivals": _arrivals_csv(text)}
        else:
            raise ConfigError("a profile is a .csv or a .toml file (see lajur twin --help)")
        return profile_from(fields, name=fields.get("name", p.stem), source="profile")
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from exc


def profile_from(fields: dict[str, Any], *, name: str, source: str) -> DayProfile:
    """A profile from parsed fields; step times not given keep their defaults."""
    seconds: dict[str, float] = dict(fields.get("times", {}))
    steps = {k: v for k, v in seconds.items() if k in STEP_NAMES}
    spreads: dict[str, float] = dict(fields.get("spreads", {}))
    times = replace(HumanTimes(), **steps, step_spread=spreads)
    sources = {k: (N_("default") if k not in seconds else fields.get("sources", {}).get(k, source))
               for k in (*STEP_NAMES, *DEVICE_STEPS)}
    return DayProfile(arrivals=dict(fields["arrivals"]), name=name, times=times,
                      print_seconds=seconds.get("print_card", DEVICE_STEPS["print_card"]),
                      gate_seconds=seconds.get("gate", DEVICE_STEPS["gate"]),
                      staff={**DEFAULT_STAFF, **fields.get("staff", {})},
                      refused_share=fields.get("refused_share", 0.1), sources=sources)
