"""The drivers believe a device only within what they asked for (issue 23): a rogue client on the
broker forges payments, cards, acks and retained messages; each is refused, counted and reported to
the lane as MessageRefused, and the real answer still counts."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from devices import mqtt_codec as codec
from devices.card_reader.driver import MqttCardReader
from devices.mqtt_codec import Topics
from devices.payment.driver import MqttPaymentTerminal
from lane.errors import DeviceTimeout
from lane.ports import MessageRefused, PaymentOutcome
from simulators.card_reader import CardReaderSimulator
from simulators.ledger import Ledger
from simulators.payment import PaymentSimulator
from tests.devices.test_mqtt_devices import CARD, TIMEOUT, rig_factory, wait_until  # noqa: F401 - fixture

NIK, NAME, SIM = CARD.nik, CARD.name, CARD.sim_number


def refusals(driver: Any) -> list[MessageRefused]:
    seen: list[MessageRefused] = []
    driver.add_listener(lambda event: seen.append(event) if isinstance(event, MessageRefused) else None)
    return seen


async def forge(client: Any, topic: str, body: dict[str, Any], *, retain: bool = False) -> None:
    await client.publish(topic, codec.encode(body), qos=1, retain=retain)


class SniffedCommands:
    """What an intruder able to read the command topic would see (the broker's ACL forbids it; here
    it shows that even then an answer must be exact)."""

    def __init__(self, client: Any, topics: Topics) -> None:
        self.commands: list[dict[str, Any]] = []
        client.subscribe(topics.cmd, lambda _t, payload, _r: self.commands.append(json.loads(payload)))


async def paying_rig(rig_factory, mqtt_client_factory):  # noqa: F811
    release = asyncio.Event()

    async def payer(reference: str, amount: int) -> str:
        await release.wait()
        return "paid"

    ledger = Ledger()
    rig = await rig_factory(MqttPaymentTerminal, PaymentSimulator, "payment", ledger=ledger, payer=payer)
    rogue = mqtt_client_factory("rogue")
    await rogue.start()
    await rogue.wait_connected(TIMEOUT)
    return rig, rogue, release, ledger


async def test_a_forged_paid_event_is_refused_and_the_real_payment_still_counts(
        rig_factory, mqtt_client_factory) -> None:  # noqa: F811
    rig, rogue, release, ledger = await paying_rig(rig_factory, mqtt_client_factory)
    seen = refusals(rig.driver)
    charge = asyncio.create_task(rig.driver.charge("R-1", 80000, timeout=TIMEOUT))
    await wait_until(lambda: (rig.driver.state or {}).get("status") == "waiting")
    topic = rig.driver.topics.event
    paid = {"type": "payment", "reference": "R-1", "status": "paid", "amount": 80000, "detail": ""}
    await forge(rogue, topic, paid)  # names no command
    await forge(rogue, topic, {**paid, "command": "0123456789abcdef"})  # a guessed one
    await wait_until(lambda: len(seen) == 2)
    assert not charge.done()  # not believed: the customer has not paid
    assert [r.reason for r in seen] == ["unsolicited", "not_outstanding"]
    release.set()
    assert (await charge).outcome is PaymentOutcome.PAID
    assert [e["reference"] for e in ledger.effects("charge_made")] == ["R-1"]


async def test_an_answer_naming_the_charge_must_be_for_exactly_its_amount_and_reference(
        rig_factory, mqtt_client_factory) -> None:  # noqa: F811
    rig, rogue, release, _ = await paying_rig(rig_factory, mqtt_client_factory)
    sniffed = SniffedCommands(rogue, rig.driver.topics)
    await asyncio.sleep(0.1)
    seen = refusals(rig.driver)
    charge = asyncio.create_task(rig.driver.charge("R-2", 80000, timeout=TIMEOUT))
    await wait_until(lambda: bool(sniffed.commands))
    command = sniffed.commands[0]["id"]
    base = {"type": "payment", "command": command, "status": "paid", "detail": ""}
    await forge(rogue, rig.driver.topics.event, {**base, "reference": "R-2", "amount": 500})
    await forge(rogue, rig.driver.topics.event, {**base, "reference": "R-OTHER", "amount": 80000})
    await wait_until(lambda: len(seen) == 2)
    assert [r.reason for r in seen] == ["wrong_amount", "wrong_answer"]
    assert not charge.done()
    release.set()
    result = await charge
    assert (result.outcome, result.amount) == (PaymentOutcome.PAID, 80000)


async def test_a_payment_after_its_charge_window_is_refused(rig_factory, mqtt_client_factory) -> None:  # noqa: F811
    rig, rogue, release, _ = await paying_rig(rig_factory, mqtt_client_factory)
    sniffed = SniffedCommands(rogue, rig.driver.topics)
    await asyncio.sleep(0.1)
    seen = refusals(rig.driver)
    with pytest.raises(DeviceTimeout):
        await rig.driver.charge("R-3", 80000, timeout=0.3)
    late = {"type": "payment", "command": sniffed.commands[0]["id"], "reference": "R-3", "status": "paid",
            "amount": 80000, "detail": ""}
    await forge(rogue, rig.driver.topics.event, late)
    await wait_until(lambda: bool(seen))
    assert seen[0].reason == "not_outstanding"
    release.set()  # the customer pays in the end: the retry with the same reference gets it, once
    assert (await rig.driver.charge("R-3", 80000, timeout=TIMEOUT)).outcome is PaymentOutcome.PAID
    assert rig.sim.charges_made == 1


async def test_retained_events_and_acks_and_acks_nobody_asked_for_are_refused(
        rig_factory, mqtt_client_factory) -> None:  # noqa: F811
    """A retained ack or event would be replayed to the controller at every reconnect."""
    rig, rogue, release, _ = await paying_rig(rig_factory, mqtt_client_factory)
    seen = refusals(rig.driver)
    t = rig.driver.topics
    await forge(rogue, t.ack, codec.ack("never-sent", True))
    await wait_until(lambda: len(seen) == 1)
    assert seen[0].reason == "not_outstanding"
    await forge(rogue, t.ack, codec.ack("never-sent", True), retain=True)
    await forge(rogue, t.event, {"type": "payment", "command": "x", "reference": "R", "status": "paid",
                                 "amount": 1}, retain=True)
    await wait_until(lambda: len(seen) == 3)
    await rig.driver.stop()  # the controller reconnects: the broker replays what it retained
    seen.clear()
    await rig.driver.start()
    await wait_until(lambda: len(seen) == 2)
    assert [r.reason for r in seen] == ["retained", "retained"]
    await rogue.publish(t.ack, b"", retain=True)  # the broker forgets them
    await rogue.publish(t.event, b"", retain=True)
    release.set()
    assert (await rig.driver.charge("R-4", 30000, timeout=TIMEOUT)).outcome is PaymentOutcome.PAID


async def test_a_card_outside_an_armed_read_is_refused_without_logging_it(
        rig_factory, mqtt_client_factory, caplog) -> None:  # noqa: F811
    rig = await rig_factory(MqttCardReader, CardReaderSimulator, "card-reader")
    seen = refusals(rig.driver)
    rogue = mqtt_client_factory("rogue-card")
    await rogue.start()
    await rogue.wait_connected(TIMEOUT)
    card = {"type": "card", "nik": NIK, "name": NAME, "birth_date": "1990-01-01", "sim_number": SIM}
    with caplog.at_level("DEBUG"):
        await forge(rogue, rig.driver.topics.event, card)  # nobody armed a read
        await forge(rogue, rig.driver.topics.event, {**card, "command": "old-read"})
        await wait_until(lambda: len(seen) == 2)
        reading = asyncio.create_task(rig.driver.read(timeout=TIMEOUT))
        await asyncio.sleep(0.2)
        await forge(rogue, rig.driver.topics.event, card)  # a read is armed, but this names none
        await wait_until(lambda: len(seen) == 3)
        assert not reading.done()
        rig.sim.insert(CARD)
        assert await reading == CARD
    assert [r.reason for r in seen] == ["unsolicited", "not_outstanding", "unsolicited"]
    for secret in (NIK, NAME, SIM):
        assert secret not in caplog.text
        assert all(secret not in r.detail for r in seen)


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("name", "Budi\x00Contoh", "control character"),
    ("name", "", "1 to 100 characters"),
    ("name", "X" * 101, "1 to 100 characters"),
    ("nik", "٣١٧٤٠١٠١٠١٩٠٠٠٠١", "ASCII digits"),
    ("nik", "317401010190000", "16 to 16 digits"),
    ("sim_number", "9001-0123-4567", "ASCII digits"),
])
def test_card_fields_are_checked_with_a_clear_reason(field: str, value: str, reason: str) -> None:
    from devices.card_reader import codec as reader_codec
    from lane.errors import ProtocolError

    body = {"type": "card", "nik": NIK, "name": NAME, "birth_date": "1990-01-01", "sim_number": SIM, field: value}
    with pytest.raises(ProtocolError, match=reason) as refused:
        reader_codec.parse_card(body)
    assert value not in str(refused.value) or not value


def test_state_and_availability_count_only_on_the_device_s_own_topics() -> None:
    from tests.devices.test_mqtt_devices import _FUZZ_CLIENT

    driver = MqttPaymentTerminal(_FUZZ_CLIENT, Topics("s", "lane-1", "payment"))
    seen = refusals(driver)
    other = Topics("s", "lane-2", "payment")
    driver._on_state(other.state, codec.encode({"status": "idle"}), True)
    driver._on_availability(other.availability, codec.ONLINE, True)
    driver._on_availability(driver.topics.availability, b"ONLINE ", True)
    assert driver.state is None and not driver._available
    assert [r.reason for r in seen] == ["wrong_topic", "wrong_topic", "malformed"]


def test_command_ids_are_unguessable() -> None:
    ids = {codec.new_command_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) >= 22 for i in ids)  # 128 random bits, URL-safe base64
