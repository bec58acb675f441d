"""The licence registry adapter against the registry simulator over real HTTP: personal data never in
a URL, every field of the answer checked, errors that quote nothing."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from devices.registry.client import HttpLicenceRegistry, parse_answer
from lane.errors import DeviceError, DeviceOffline, ProtocolError
from simulators.people import Person, make_person
from simulators.registry import RegistrySimulator


@pytest.fixture
def person() -> Person:
    return make_person(random.Random(3), date(2026, 12, 5))


@pytest.fixture
def registry(person: Person) -> Iterator[RegistrySimulator]:
    sim = RegistrySimulator([person])
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


async def test_lookup_finds_the_licence_with_the_keys_in_the_body_not_the_url(
        registry: RegistrySimulator, person: Person, caplog) -> None:
    client = HttpLicenceRegistry(registry.url)
    try:
        with caplog.at_level(logging.DEBUG):
            answer = await client.lookup(person.nik, person.sim_number)
    finally:
        await client.close()
    assert answer.licence == person.licence()
    assert [c.kind for c in answer.certificates] == ["health", "psychology"]
    requests = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert requests and all("POST" in line for line in requests)
    for secret in (person.nik, person.sim_number, person.name):
        assert secret not in caplog.text


async def test_a_lookup_in_the_query_string_is_no_longer_served(registry: RegistrySimulator, person: Person) -> None:
    async with httpx.AsyncClient(base_url=registry.url) as http:
        resp = await http.get("/v1/licences", params={"nik": person.nik, "sim_number": person.sim_number})
    assert resp.status_code in (404, 405)


async def test_unknown_person_has_no_licence_and_a_down_registry_is_offline(registry: RegistrySimulator) -> None:
    client = HttpLicenceRegistry(registry.url)
    try:
        assert (await client.lookup("3325014101909999", "900000000000")).licence is None
        await registry.inject("down")
        with pytest.raises(DeviceOffline):
            await client.lookup("3325014101909999", "900000000000")
        assert not client.online
    finally:
        await client.close()


def _answer(person: Person, **licence: Any) -> dict[str, Any]:
    return {"v": 1, "licence": {"nik": person.nik, "name": person.name, "birth_date": "1990-01-01",
                                "sim_number": person.sim_number, "sim_class": "A", "expires": "2027-01-01",
                                **licence},
            "certificates": []}


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("name", "Budi\x00Contoh", "control character"),
    ("name", "\u202eBudi", "control character"),  # right-to-left override: a format character
    ("nik", "٣٣٢٥٠١٤١٠١٩٠٩٩٩٩", "ASCII digits"),
    ("sim_number", "9001234", "12 to 16 digits"),
    ("sim_class", "a; DROP", "upper-case letters"),
    ("expires", "2027-02-30", "ISO date"),
])
def test_a_malformed_answer_is_refused_with_a_reason_that_quotes_nothing(
        person: Person, field: str, value: str, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason) as refused:
        parse_answer(_answer(person, **{field: value}))
    assert value not in str(refused.value)


async def test_a_malformed_answer_over_http_is_a_device_error_without_personal_data(
        registry: RegistrySimulator, person: Person) -> None:
    registry._answer = lambda nik, sim: _answer(person, name="Budi\x00")  # type: ignore[method-assign]
    client = HttpLicenceRegistry(registry.url)
    try:
        with pytest.raises(DeviceError) as refused:
            await client.lookup(person.nik, person.sim_number)
    finally:
        await client.close()
    assert "control character" in str(refused.value)
    assert person.nik not in str(refused.value) and client.malformed == 1
