"""HTTP adapter for the licence registry (lane.ports.LicenceRegistry)."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import httpx

from lane.errors import DeviceError, DeviceOffline, DeviceTimeout
from lane.ports import Certificate, LicenceRecord, RegistryAnswer

log = logging.getLogger(__name__)


class HttpLicenceRegistry:
    name = "registry"

    def __init__(self, base_url: str, *, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)
        self.online = True

    async def close(self) -> None:
        await self._client.aclose()

    async def lookup(self, nik: str, sim_number: str) -> RegistryAnswer:
        try:
            resp = await self._client.get("/v1/licences", params={"nik": nik, "sim_number": sim_number})
        except httpx.TimeoutException as exc:
            self.online = False
            raise DeviceTimeout("registry", f"no answer from {self.base_url}") from exc
        except httpx.HTTPError as exc:
            self.online = False
            raise DeviceOffline("registry", f"cannot reach {self.base_url}: {exc}") from exc
        if resp.status_code >= 500:
            self.online = False
            raise DeviceOffline("registry", f"registry answered {resp.status_code}")
        self.online = True
        if resp.status_code != 200:
            raise DeviceError("registry", f"registry refused the lookup ({resp.status_code})")
        try:
            return parse_answer(resp.json())
        except (KeyError, TypeError, ValueError) as exc:
            raise DeviceError("registry", f"malformed registry answer: {exc}") from exc


def parse_answer(data: dict[str, Any]) -> RegistryAnswer:
    if data.get("v") != 1:
        raise ValueError(f"unsupported version {data.get('v')!r}")
    lic = data.get("licence")
    licence = None
    if lic is not None:
        licence = LicenceRecord(nik=str(lic["nik"]), name=str(lic["name"]),
                                birth_date=date.fromisoformat(lic["birth_date"]),
                                sim_number=str(lic["sim_number"]), sim_class=str(lic["sim_class"]),
                                expires=date.fromisoformat(lic["expires"]))
    certs = [Certificate(kind=str(c["kind"]), nik=str(c["nik"]), issued=date.fromisoformat(c["issued"]),
                         number=str(c.get("number", ""))) for c in data.get("certificates", [])]
    return RegistryAnswer(licence=licence, certificates=certs)
