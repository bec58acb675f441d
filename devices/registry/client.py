"""HTTP adapter for the licence registry (lane.ports.LicenceRegistry).

The lookup is ``POST /v1/licences/lookup`` with the NIK and the SIM number in a JSON body, never in
the URL: URLs end up in access logs, proxies and client debug logs (``httpx`` logs every request line
at INFO), and a NIK is personal data (UU 27/2022). The answer is checked like any device's message
(:mod:`devices.fields`) before the lane sees it, and errors never quote it.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import httpx

from devices.fields import field_digits, field_str, field_text
from lane.errors import DeviceError, DeviceOffline, DeviceTimeout, ProtocolError
from lane.ports import Certificate, LicenceRecord, RegistryAnswer

log = logging.getLogger(__name__)

LOOKUP_PATH = "/v1/licences/lookup"
MAX_CERTIFICATES = 16


def lookup_body(nik: str, sim_number: str) -> dict[str, Any]:
    """What the client POSTs (and the simulator reads): the two keys of a licence."""
    return {"v": 1, "nik": nik, "sim_number": sim_number}


class HttpLicenceRegistry:
    name = "registry"

    def __init__(self, base_url: str, *, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)
        self.online = True
        self.malformed = 0

    async def close(self) -> None:
        await self._client.aclose()

    async def lookup(self, nik: str, sim_number: str) -> RegistryAnswer:
        try:
            resp = await self._client.post(LOOKUP_PATH, json=lookup_body(nik, sim_number))
        except httpx.TimeoutException as exc:
            self.online = False
            raise DeviceTimeout("registry", f"no answer from {self.base_url}") from exc
        except httpx.HTTPError as exc:
            self.online = False
            raise DeviceOffline("registry", f"cannot reach {self.base_url}: {type(exc).__name__}") from exc
        if resp.status_code >= 500:
            self.online = False
            raise DeviceOffline("registry", f"registry answered {resp.status_code}")
        self.online = True
        if resp.status_code != 200:
            raise DeviceError("registry", f"registry refused the lookup ({resp.status_code})")
        try:
            return parse_answer(resp.json())
        except (ProtocolError, ValueError) as exc:
            self.malformed += 1
            reason = exc if isinstance(exc, ProtocolError) else "not JSON"
            raise DeviceError("registry", f"malformed registry answer: {reason}") from None


def _date(body: dict[str, Any], key: str) -> date:
    try:
        return date.fromisoformat(field_str(body, key))
    except ValueError:
        raise ProtocolError(f"field {key!r} is not an ISO date") from None


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} must be an object")
    return value


def parse_answer(data: Any) -> RegistryAnswer:
    """The registry's answer, every field checked; ProtocolError (quoting no value) otherwise."""
    data = _object(data, "the answer")
    if data.get("v") != 1 or isinstance(data.get("v"), bool):
        raise ProtocolError("unsupported version (v must be 1)")
    licence = None
    if data.get("licence") is not None:
        lic = _object(data["licence"], "licence")
        sim_class = field_text(lic, "sim_class", max_len=8)
        if not sim_class.isascii() or not sim_class.isalnum() or not sim_class.isupper():
            raise ProtocolError("the SIM class must be upper-case letters and digits (A, C, CI…)")
        licence = LicenceRecord(
            nik=field_digits(lic, "nik", (16,)), name=field_text(lic, "name", max_len=100),
            birth_date=_date(lic, "birth_date"), sim_number=field_digits(lic, "sim_number", range(12, 17)),
            sim_class=sim_class, expires=_date(lic, "expires"))
    raw_certs = data.get("certificates", [])
    if not isinstance(raw_certs, list) or len(raw_certs) > MAX_CERTIFICATES:
        raise ProtocolError(f"certificates must be a list of at most {MAX_CERTIFICATES}")
    certs = []
    for raw in raw_certs:
        cert = _object(raw, "a certificate")
        number = field_text(cert, "number", max_len=32, min_len=0) if "number" in cert else ""
        certs.append(Certificate(kind=field_text(cert, "kind", max_len=16), nik=field_digits(cert, "nik", (16,)),
                                 issued=_date(cert, "issued"), number=number))
    return RegistryAnswer(licence=licence, certificates=certs)
