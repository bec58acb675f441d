"""Clearly fake people for the registry simulator and the traffic simulator.

Names come from a short list marked as fictitious; NIKs are well-formed (region codes of Batang and
Sragen, valid birth dates) but the serial range 9xxx marks them as simulated.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from lane.ports import Certificate, LicenceRecord

FIRST = ["Budi", "Siti", "Agus", "Dewi", "Eko", "Rina", "Joko", "Sri", "Andi", "Wulan", "Hadi", "Ratna"]
LAST = ["Contoh", "Simulasi", "Percobaan", "Fiktif", "Uji", "Sampel"]
REGIONS = [("33", "25", "01"), ("33", "25", "05"), ("33", "14", "02"), ("33", "14", "08")]
PLATE_REGION = {"25": "G", "14": "AD"}


@dataclass
class Person:
    nik: str
    name: str
    birth_date: date
    female: bool
    sim_number: str
    sim_class: str
    sim_expires: date
    plate: str
    certificates: list[Certificate] = field(default_factory=list)
    problem: str | None = None
    """Why this person should be refused (for test expectations), or None."""

    def licence(self) -> LicenceRecord:
        return LicenceRecord(nik=self.nik, name=self.name, birth_date=self.birth_date,
                             sim_number=self.sim_number, sim_class=self.sim_class, expires=self.sim_expires)


def make_nik(rng: random.Random, birth: date, female: bool, region: tuple[str, str, str]) -> str:
    day = birth.day + (40 if female else 0)
    return f"{region[0]}{region[1]}{region[2]}{day:02d}{birth.month:02d}{birth.year % 100:02d}{rng.randint(9000, 9999)}"


def make_plate(rng: random.Random, regency: str) -> str:
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    suffix = "".join(rng.choice(letters) for _ in range(rng.randint(1, 3)))
    return f"{PLATE_REGION.get(regency, 'G')}{rng.randint(1, 9999)}{suffix}"


def make_person(rng: random.Random, today: date, *, problem: str | None = None) -> Person:
    """A person who may renew today, or, with ``problem``, one who must be refused for that reason.

    Problems: ``expired`` (SIM expired yesterday), ``nik_mismatch`` (e-KTP of someone else),
    ``no_health`` (health certificate missing), ``old_health`` (certificate older than 14 days).
    """
    region = rng.choice(REGIONS)
    female = rng.random() < 0.5
    birth = date(rng.randint(1965, 2004), rng.randint(1, 12), rng.randint(1, 28))
    nik = make_nik(rng, birth, female, region)
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    sim_class = "A" if rng.random() < 0.5 else "C"
    new_format = rng.random() < 0.3
    sim_number = nik if new_format else "".join(str(rng.randint(0, 9)) for _ in range(12))
    expires = today + timedelta(days=rng.randint(1, 60))
    if problem == "expired":
        expires = today - timedelta(days=rng.randint(1, 30))
    certs = [Certificate("health", nik, today - timedelta(days=rng.randint(0, 10)), f"HLT-{rng.randint(1000, 9999)}"),
             Certificate("psychology", nik, today - timedelta(days=rng.randint(0, 150)), f"PSI-{rng.randint(1000, 9999)}")]
    if problem == "no_health":
        certs = [c for c in certs if c.kind != "health"]
    if problem == "old_health":
        certs[0] = Certificate("health", nik, today - timedelta(days=20), certs[0].number)
    return Person(nik=nik, name=name, birth_date=birth, female=female, sim_number=sim_number,
                  sim_class=sim_class, sim_expires=expires, plate=make_plate(rng, region[1]),
                  certificates=certs, problem=problem)
