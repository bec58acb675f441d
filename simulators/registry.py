"""The licence registry simulator: a local HTTP service seeded with clearly fake people.

API (what the real adapter expects): ``POST /v1/licences/lookup`` with ``{"v": 1, "nik", "sim_number"}``
-> ``{"v": 1, "licence": {...} | null, "certificates": [...]}``. The keys travel in the body, never in
the URL (URLs are logged). Control: ``POST /control/fault``
with ``{"fault": "down" | "slow" | "none", "delay": seconds}``; ``POST /v1/people`` adds a person.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import date
from typing import Any, Literal

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from devices.registry.client import LOOKUP_PATH
from lane.ports import Certificate
from simulators.faults import UnknownFault, check_fault, clear_all
from simulators.http_server import ThreadedServer
from simulators.people import Person


class LookupBody(BaseModel):
    v: Literal[1] = 1
    nik: str = Field(min_length=1, max_length=32)
    sim_number: str = Field(min_length=1, max_length=32)


class FaultBody(BaseModel):
    fault: str = "none"
    delay: float = 0.0


REGISTRY_FAULTS = frozenset({"down", "slow"})


class CertificateBody(BaseModel):
    kind: str
    nik: str
    issued: date
    number: str


class PersonBody(BaseModel):
    """A person to add, in the shape a lookup answers (``licence`` fields, then ``certificates``)."""

    nik: str
    name: str
    birth_date: date
    sim_number: str
    sim_class: str
    expires: date
    certificates: list[CertificateBody] = []


class RegistrySimulator:
    name = "registry"
    faults_supported = REGISTRY_FAULTS

    def __init__(self, people: list[Person] | None = None, *, slow_seconds: float = 5.0) -> None:
        self.by_nik: dict[str, Person] = {}
        self.by_sim: dict[str, Person] = {}
        self.fault = "none"
        self.delay = slow_seconds
        """Seconds each answer takes while the ``slow`` fault is on."""
        self.requests = 0
        for p in people or []:
            self.add(p)
        self.app = self._build_app()
        self._server: ThreadedServer | None = None

    @property
    def faults(self) -> frozenset[str]:
        return frozenset() if self.fault == "none" else frozenset({self.fault})

    async def inject(self, fault: str, active: bool = True) -> None:
        """One fault at a time (:class:`simulators.faults.FaultInjectable`): ``down`` answers 503,
        ``slow`` answers after ``delay`` seconds."""
        check_fault(self, fault)
        if active:
            self.fault = fault
        elif self.fault == fault:
            self.fault = "none"

    def add(self, person: Person) -> None:
        self.by_nik[person.nik] = person
        self.by_sim[person.sim_number] = person

    def _answer(self, nik: str, sim_number: str) -> dict[str, Any]:
        # The licence is found by the old SIM's number; the lane's rules then compare the holder's
        # NIK with the e-KTP (a mismatch is a refusal, not "not found").
        p = self.by_sim.get(sim_number) or self.by_nik.get(nik)
        if p is None:
            return {"v": 1, "licence": None, "certificates": []}
        return {
            "v": 1,
            "licence": {"nik": p.nik, "name": p.name, "birth_date": p.birth_date.isoformat(),
                        "sim_number": p.sim_number, "sim_class": p.sim_class,
                        "expires": p.sim_expires.isoformat()},
            "certificates": [{"kind": c.kind, "nik": c.nik, "issued": c.issued.isoformat(), "number": c.number}
                             for c in p.certificates],
        }

    @staticmethod
    def person_body(person: Person) -> dict[str, Any]:
        """What ``POST /v1/people`` takes for ``person`` (a simulator in another process adds its drivers)."""
        return {"nik": person.nik, "name": person.name, "birth_date": person.birth_date.isoformat(),
                "sim_number": person.sim_number, "sim_class": person.sim_class,
                "expires": person.sim_expires.isoformat(),
                "certificates": [{"kind": c.kind, "nik": c.nik, "issued": c.issued.isoformat(), "number": c.number}
                                 for c in person.certificates]}

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="Lajur licence registry simulator")

        @app.post(LOOKUP_PATH)
        async def lookup(body: LookupBody) -> dict[str, Any]:
            self.requests += 1
            if self.fault == "down":
                raise HTTPException(503, "registry unavailable (simulated)")
            if self.fault == "slow" and self.delay:
                await asyncio.sleep(self.delay)
            return self._answer(body.nik, body.sim_number)

        @app.post("/v1/people", status_code=201)
        async def add_person(body: PersonBody) -> dict[str, Any]:
            self.add(Person(nik=body.nik, name=body.name, birth_date=body.birth_date, female=False,
                            sim_number=body.sim_number, sim_class=body.sim_class, sim_expires=body.expires,
                            plate="", certificates=[Certificate(c.kind, c.nik, c.issued, c.number)
                                                    for c in body.certificates]))
            return {"v": 1, "added": body.nik[:6] + "…"}

        @app.post("/control/fault")
        async def set_fault(body: FaultBody) -> dict[str, Any]:
            try:
                if body.fault == "none":
                    await clear_all(self)
                else:
                    await self.inject(body.fault)
            except UnknownFault as exc:
                raise HTTPException(422, f"{exc} (or none)") from exc
            if body.delay:
                self.delay = body.delay
            return {"fault": self.fault, "delay": self.delay}

        @app.get("/healthz")
        async def health() -> dict[str, str]:
            return {"status": "ok"}

        return app

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = ThreadedServer(self.app, host, port)
        self._server.start()
        return self._server.url

    def stop(self) -> None:
        if self._server:
            self._server.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url


def main(argv: list[str] | None = None) -> int:
    import random

    from simulators.people import make_person

    ap = argparse.ArgumentParser(prog="lajur sim registry", description="Licence registry simulator (HTTP).")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--people", type=int, default=20, help="fake people to seed")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fault", choices=["none", "down", "slow"], default="none")
    ap.add_argument("--slow-seconds", type=float, default=5.0, help="delay of each answer with fault slow")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    sim = RegistrySimulator([make_person(rng, date.today()) for _ in range(args.people)],
                            slow_seconds=args.slow_seconds)
    if args.fault != "none":
        asyncio.run(sim.inject(args.fault))
    url = sim.start(args.host, args.port)
    print(f"registry simulator listening on {url} (POST {LOOKUP_PATH} {{\"v\":1,\"nik\":…,\"sim_number\":…}})",
          flush=True)
    for p in list(sim.by_nik.values())[:5]:
        print(f"  example: nik={p.nik} sim_number={p.sim_number} class={p.sim_class}", flush=True)
    print(f"  faults at run time: POST {url}/control/fault {{\"fault\": \"down\"}}, or on stdin", flush=True)
    from simulators.standalone import serve_stdin_faults

    try:
        serve_stdin_faults(sim)
    except KeyboardInterrupt:
        sim.stop()
    return 0
