"""MQTT device drivers against their simulators through a real private broker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices import mqtt_codec as codec
from devices.biometric.driver import MqttBiometricStation
from devices.card_reader.driver import MqttCardReader
from devices.display.driver import MqttDisplay
from devices.mqtt_codec import Topics
from devices.mqtt_device import DeviceUpdate
from devices.payment.driver import MqttPaymentTerminal
from devices.transport.mqtt import MqttClient
from lane.clock import ScaledClock
from lane.errors import DeviceFault, DeviceOffline, DeviceTimeout, ProtocolError
from lane.ports import ChargeSummary, DisplayMessage, IdentityCard, PaymentOutcome, Signal
from simulators.biometric import BiometricSimulator
from simulators.card_reader import CardReaderSimulator
from simulators.display import DisplaySimulator
from simulators.faults import clear_all
from simulators.ledger import Ledger
from simulators.mqtt_device import device_will
from simulators.payment import PaymentSimulator

TIMEOUT = 5.0
FAST = ScaledClock(speed=1000)  # default human delays (5 s, 60 s) take milliseconds
CARD = IdentityCard(nik="3174010101900001", name="Budi Contoh", birth_date=date(1990, 1, 1), sim_number="900101234567")


async def wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    async def loop() -> None:
        delay = 0.005
        while not condition():
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    await asyncio.wait_for(loop(), timeout)


@dataclass
class Rig:
    controller: MqttClient
    device_client: MqttClient
    driver: Any
    sim: Any


@pytest.fixture
async def rig_factory(mqtt_client_factory):
    """``make(driver_cls, sim_cls, device, **sim_kwargs)`` → a driver and its simulator, online."""
    made: list[Rig] = []

    async def make(driver_cls: type, sim_cls: type, device: str, **sim_kwargs: Any) -> Rig:
        topics = Topics("test-site", "lane-1", device)
        controller = mqtt_client_factory(f"ctl-{device}")
        device_client = mqtt_client_factory(f"sim-{device}", will=device_will(topics))
        driver = driver_cls(controller, topics)
        sim = sim_cls(device_client, topics, FAST, **sim_kwargs)
        await driver.start()
        await controller.start()
        await device_client.start()
        await controller.wait_connected(TIMEOUT)
        await device_client.wait_connected(TIMEOUT)
        await sim.start()
        await driver.wait_online(TIMEOUT)
        rig = Rig(controller, device_client, driver, sim)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        await rig.sim.stop()
        await rig.driver.stop()


# ====================================================================== payment
async def test_charge_is_paid_and_recorded_once_in_the_ledger(rig_factory) -> None:
    ledger = Ledger()
    rig = await rig_factory(MqttPaymentTerminal, PaymentSimulator, "payment", ledger=ledger)
    result = await rig.driver.charge("R-1", 30000, timeout=TIMEOUT)
    assert (result.reference, result.outcome, result.amount) == ("R-1", PaymentOutcome.PAID, 30000)
    assert [(e["reference"], e["amount"]) for e in ledger.effects("charge_made")] == [("R-1", 30000)]


async def test_repeated_charge_for_a_settled_reference_charges_nothing(rig_factory) -> None:
    ledger = Ledger()
    rig = await rig_factory(MqttPaymentTerminal, PaymentSimulator, "payment", ledger=ledger)
    first = await rig.driver.charge("R-2", 30000, timeout=TIMEOUT)
    second = await rig.driver.charge("R-2", 30000, timeout=TIMEOUT)
    assert first == second
    assert rig.sim.charges_made == 1
    assert len(ledger.effects("charge_made")) == 1


async def test_the_terminal_shows_name_class_and_fee_and_answers_the_applicants_ok_or_cancel(rig_factory) -> None:
    answers = {"V-1-confirm": True, "V-2-confirm": False}

    async def applicant(summary: ChargeSummary) -> bool:
        return answers[summary.reference]

    ledger = Ledger()
    rig = await rig_factory(MqttPaymentTerminal, PaymentSimulator, "payment", ledger=ledger, confirmer=applicant)
    ok = ChargeSummary("V-1-confirm", "SITI RAHAYU", "A", 80_000)
    assert await rig.driver.confirm(ok, timeout=TIMEOUT) is True
    assert await rig.driver.confirm(ChargeSummary("V-2-confirm", "BUDI", "C", 75_000), timeout=TIMEOUT) is False
    assert await rig.driver.confirm(ok, timeout=TIMEOUT) is True, "asked again: the answer already given"
    assert [s.reference for s in rig.sim.shown] == ["V-1-confirm", "V-2-confirm"]
    assert rig.sim.shown[0] == ok
    assert not ledger.effects("charge_made"), "a confirmation charges nothing"


async def test_charge_retried_while_customer_is_still_paying_is_not_doubled(rig_factory) -> None:
    ledger = Ledger()
    release = asyncio.Event()
    payers: list[str] = []

    async def slow_payer(reference: str, amount: int) -> str:
        payers.append(reference)
        await release.wait()
        return "paid"

    rig = await rig_factory(MqttPaymentTerminal, PaymentSimulator, "payment", ledger=ledger, payer=slow_payer)
    with pytest.raises(DeviceTimeout):
        await rig.driver.charge("R-3", 50000, timeout=0.3)
    retry = asyncio.create_task(rig.driver.charge("R-3", 50000, timeout=TIMEOUT))
    await wait_until(lambda: rig.sim.commands_seen == 2)
    release.set()
    assert (await retry).outcome == PaymentOutcome.PAID
    assert payers == ["R-3"]
    assert len(ledger.effects("charge_made")) == 1


async def test_declined_fault_fails_the_payment_until_cleared(rig_factory) -> None:
    ledger = Ledger()
    rig = await rig_factory(MqttPaymentTerminal, PaymentSimulator, "payment", ledger=ledger)
    await rig.sim.inject("declined")
    declined = await rig.driver.charge("R-4", 30000, timeout=TIMEOUT)
    assert (declined.outcome, declined.detail) == (PaymentOutcome.FAILED, "declined")
    assert ledger.effects("charge_made") == []
    await rig.sim.inject("declined", False)
    assert (await rig.driver.charge("R-4b", 30000, timeout=TIMEOUT)).outcome == PaymentOutcome.PAID


async def test_terminal_that_never_answers_times_out_then_recovers(rig_factory) -> None:
    rig = await rig_factory(MqttPaymentTerminal, PaymentSimulator, "payment")
    await rig.sim.inject("timeout")
    with pytest.raises(DeviceTimeout):
        await rig.driver.charge("R-5", 30000, timeout=0.3)
    await rig.sim.inject("timeout", False)
    assert (await rig.driver.charge("R-5", 30000, timeout=TIMEOUT)).outcome == PaymentOutcome.PAID


async def test_offline_terminal_is_refused_at_once_and_comes_back(rig_factory) -> None:
    rig = await rig_factory(MqttPaymentTerminal, PaymentSimulator, "payment")
    updates: list[DeviceUpdate] = []
    rig.driver.add_listener(updates.append)
    await rig.sim.inject("offline")
    await wait_until(lambda: not rig.driver.online)
    with pytest.raises(DeviceOffline):
        await rig.driver.charge("R-6", 30000, timeout=TIMEOUT)
    await rig.sim.inject("offline", False)
    await rig.driver.wait_online(TIMEOUT)
    assert (await rig.driver.charge("R-6", 30000, timeout=TIMEOUT)).outcome == PaymentOutcome.PAID
    assert [u.online for u in updates if u.kind == "availability"] == [False, True]


async def test_terminal_going_offline_mid_charge_raises_device_offline(rig_factory) -> None:
    never = asyncio.Event()

    async def stuck(reference: str, amount: int) -> str:
        await never.wait()
        return "paid"

    rig = await rig_factory(MqttPaymentTerminal, PaymentSimulator, "payment", payer=stuck)
    rig.driver.offline_grace = 0.2
    charge = asyncio.create_task(rig.driver.charge("R-7", 30000, timeout=TIMEOUT))
    await wait_until(lambda: (rig.driver.state or {}).get("status") == "waiting")
    await rig.sim.inject("offline")
    with pytest.raises(DeviceOffline):
        await charge


async def test_crashed_terminal_is_seen_offline_through_its_last_will(rig_factory) -> None:
    rig = await rig_factory(MqttPaymentTerminal, PaymentSimulator, "payment")
    await rig.device_client.abort()
    await wait_until(lambda: not rig.driver.online)


async def test_payment_result_survives_a_broker_restart(mqtt_broker, rig_factory) -> None:
    if not mqtt_broker.persistent:
        pytest.skip("needs a broker that keeps sessions across a restart")
    release = asyncio.Event()

    async def payer(reference: str, amount: int) -> str:
        await release.wait()
        return "paid"

    rig = await rig_factory(MqttPaymentTerminal, PaymentSimulator, "payment", payer=payer)
    charge = asyncio.create_task(rig.driver.charge("R-8", 30000, timeout=10))
    await wait_until(lambda: (rig.driver.state or {}).get("status") == "waiting")
    mqtt_broker.stop()
    await wait_until(lambda: not rig.device_client.connected)
    release.set()  # the customer pays while the broker is down; the event waits in paho's queue
    mqtt_broker.start()
    result = await charge
    assert result.outcome == PaymentOutcome.PAID
    await wait_until(lambda: rig.driver.online)


# ====================================================================== biometric
async def test_biometric_capture_returns_file_references(rig_factory) -> None:
    rig = await rig_factory(MqttBiometricStation, BiometricSimulator, "biometric")
    result = await rig.driver.capture("RN-1", timeout=TIMEOUT)
    assert result.renewal_id == "RN-1"
    assert result.photo_ref and result.fingerprint_ref and result.signature_ref


async def test_biometric_failure_is_a_device_fault_and_clears(rig_factory) -> None:
    rig = await rig_factory(MqttBiometricStation, BiometricSimulator, "biometric")
    await rig.sim.inject("fail")
    with pytest.raises(DeviceFault) as err:
        await rig.driver.capture("RN-2", timeout=TIMEOUT)
    assert err.value.fault == "capture_failed"
    await rig.sim.inject("fail", False)
    assert (await rig.driver.capture("RN-2", timeout=TIMEOUT)).renewal_id == "RN-2"


async def test_biometric_offline_and_recovery(rig_factory) -> None:
    rig = await rig_factory(MqttBiometricStation, BiometricSimulator, "biometric")
    await rig.sim.inject("offline")
    await wait_until(lambda: not rig.driver.online)
    with pytest.raises(DeviceOffline):
        await rig.driver.capture("RN-3", timeout=TIMEOUT)
    await clear_all(rig.sim)
    await rig.driver.wait_online(TIMEOUT)
    assert (await rig.driver.capture("RN-3", timeout=TIMEOUT)).renewal_id == "RN-3"


async def test_biometric_human_delay_hook_is_awaited(rig_factory) -> None:
    seen: list[str] = []

    async def human(renewal_id: str) -> None:
        seen.append(renewal_id)

    rig = await rig_factory(MqttBiometricStation, BiometricSimulator, "biometric", capturer=human)
    await rig.driver.capture("RN-4", timeout=TIMEOUT)
    again = await rig.driver.capture("RN-4", timeout=TIMEOUT)
    assert seen == ["RN-4"]
    assert again.renewal_id == "RN-4"


# ====================================================================== card reader
async def test_card_inserted_by_hand_is_read(rig_factory) -> None:
    rig = await rig_factory(MqttCardReader, CardReaderSimulator, "card-reader")
    rig.sim.insert(CARD)
    assert await rig.driver.read(timeout=TIMEOUT) == CARD


async def test_card_from_supplier_hook_is_read(rig_factory) -> None:
    async def supplier() -> dict[str, Any]:
        return {"nik": CARD.nik, "name": CARD.name, "birth_date": "1990-01-01", "sim_number": CARD.sim_number}

    rig = await rig_factory(MqttCardReader, CardReaderSimulator, "card-reader", supplier=supplier)
    assert await rig.driver.read(timeout=TIMEOUT) == CARD


async def test_read_waits_for_a_card_and_times_out_without_one(rig_factory) -> None:
    rig = await rig_factory(MqttCardReader, CardReaderSimulator, "card-reader")
    with pytest.raises(DeviceTimeout):
        await rig.driver.read(timeout=0.3)
    # the card is tapped once the next read is armed: a tap at the very end of the first read's
    # window may answer that read, which is over, and be refused (tests/devices/test_mqtt_trust.py)
    second = asyncio.create_task(rig.driver.read(timeout=TIMEOUT))
    await wait_until(lambda: rig.sim.commands_seen == 2)
    rig.sim.insert(CARD)
    assert await second == CARD


async def test_a_card_tapped_after_a_read_s_window_waits_for_the_next_read(rig_factory) -> None:
    """The read carries its window; the reader disarms before the controller gives up, so a card
    tapped after it is kept for the next read rather than answering one nobody waits for."""
    rig = await rig_factory(MqttCardReader, CardReaderSimulator, "card-reader")
    with pytest.raises(DeviceTimeout):
        await rig.driver.read(timeout=1.0)  # the reader's window: 0.8 s
    await wait_until(lambda: (rig.driver.state or {}).get("status") == "idle")
    rig.sim.insert(CARD)
    await asyncio.sleep(0.1)
    assert rig.driver.refused == 0
    assert await rig.driver.read(timeout=TIMEOUT) == CARD


async def test_unreadable_card_is_a_fault_then_reads_again(rig_factory) -> None:
    rig = await rig_factory(MqttCardReader, CardReaderSimulator, "card-reader")
    await rig.sim.inject("unreadable")
    rig.sim.insert(CARD)
    with pytest.raises(DeviceFault) as err:
        await rig.driver.read(timeout=TIMEOUT)
    assert err.value.fault == "unreadable"
    await rig.sim.inject("unreadable", False)
    rig.sim.insert(CARD)
    assert await rig.driver.read(timeout=TIMEOUT) == CARD


# ====================================================================== display
def message(station: str = "entry", signal: Signal = Signal.GREEN, plate: str | None = "B1234XYZ") -> DisplayMessage:
    return DisplayMessage(station=station, signal=signal, step="proceed", text_id="Silakan maju",
                          text_en="Please drive on", plate=plate, fee=None)


async def test_display_shows_what_the_controller_sends(rig_factory) -> None:
    rig = await rig_factory(MqttDisplay, DisplaySimulator, "display-entry")
    seen: list[DisplayMessage] = []
    rig.sim.add_listener(seen.append)
    await rig.driver.show(message())
    await wait_until(lambda: seen == [message()])
    assert rig.sim.shown == message()
    assert rig.sim.station == "entry"


async def test_display_state_carries_no_personal_data_beyond_plate(rig_factory) -> None:
    rig = await rig_factory(MqttDisplay, DisplaySimulator, "display-window-1")
    await rig.driver.show(message("window-1"))
    await wait_until(lambda: rig.driver.state is not None)
    assert set(rig.driver.state) == {"v", "ts", "station", "signal", "step", "text_id", "text_en", "plate", "fee"}


async def test_display_that_was_offline_shows_the_latest_message_when_back(rig_factory) -> None:
    rig = await rig_factory(MqttDisplay, DisplaySimulator, "display-exit")
    await rig.sim.inject("offline")
    await wait_until(lambda: not rig.driver.online)
    await rig.driver.show(message("exit", Signal.RED))  # no error while dark
    await rig.driver.show(message("exit", Signal.GREEN))
    await wait_until(lambda: rig.driver.state is not None and rig.driver.state["signal"] == "green")
    assert rig.sim.shown is None
    await rig.sim.inject("offline", False)
    # the display may get the retained picture after the controller's own copy came back: it shows it
    # when it arrives (an immediate assert here failed on a busy machine)
    await wait_until(lambda: rig.sim.shown == message("exit", Signal.GREEN))


async def test_display_started_later_gets_the_retained_picture(mqtt_client_factory) -> None:
    topics = Topics.display("test-site", "lane-1", "window-2")
    controller = mqtt_client_factory("ctl-late-display")
    await controller.start()
    await controller.wait_connected(TIMEOUT)
    display = MqttDisplay(controller, topics)
    await display.start()
    await display.show(message("window-2"))
    sim_client = mqtt_client_factory("sim-late-display", will=device_will(topics))
    sim = DisplaySimulator(sim_client, topics)
    await sim_client.start()
    await sim.start()
    await wait_until(lambda: sim.shown == message("window-2"))


# ====================================================================== malformed payloads
GARBAGE = [b"", b"\xff\xfe", b"not json", b"[]", b'{"v":2,"ts":"x","id":"1","ok":true}',
           b'{"v":1,"id":"1","ok":true}', b'{"v":1,"ts":"x","type":"payment","reference":7}',
           b'{"v":1,"ts":"x","type":"payment","reference":"R","status":"maybe","amount":1}']


async def test_malformed_payloads_are_counted_and_the_device_keeps_working(rig_factory) -> None:
    ledger = Ledger()
    rig = await rig_factory(MqttPaymentTerminal, PaymentSimulator, "payment", ledger=ledger)
    noisy = rig.device_client
    t = rig.driver.topics
    for payload in GARBAGE:
        await noisy.publish(t.ack, payload)
        await noisy.publish(t.event, payload)
    await noisy.publish(t.availability, b"maybe")
    await rig.controller.publish(t.cmd, b"{oops")
    await rig.controller.publish(t.cmd, codec.encode({"id": "x"}))  # no op
    # ack "" and event "" are both malformed; 2 payloads each, plus the availability one
    expected = 2 * len(GARBAGE) + 1
    await wait_until(lambda: rig.driver.malformed >= expected)
    await wait_until(lambda: rig.sim.malformed == 2)
    await wait_until(lambda: rig.driver.online)
    assert (await rig.driver.charge("R-9", 30000, timeout=TIMEOUT)).outcome == PaymentOutcome.PAID


async def test_unknown_command_is_acked_not_ok(rig_factory) -> None:
    rig = await rig_factory(MqttPaymentTerminal, PaymentSimulator, "payment")
    with pytest.raises(DeviceFault) as err:
        await rig.driver.send_command("refund", timeout=TIMEOUT, reference="R")
    assert "unknown op" in (err.value.fault or "")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=200))
def test_decode_rejects_random_bytes_only_with_protocol_error(payload: bytes) -> None:
    try:
        body = codec.decode(payload)
    except ProtocolError:
        return
    assert body["v"] == 1 and isinstance(body["ts"], str)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)
event_like = st.fixed_dictionaries(
    {"v": st.sampled_from([1, 1, 2, "1", None]), "ts": st.sampled_from(["2026-01-01T00:00:00Z", 5])},
    optional={
        "type": st.sampled_from(["payment", "captured", "capture_failed", "card", "read_error"]) | st.text(max_size=8),
        "id": json_values, "ok": json_values, "error": json_values, "reference": json_values,
        "status": st.sampled_from(["paid", "failed", "cancelled"]) | json_values, "amount": json_values,
        "renewal_id": json_values, "photo_ref": json_values, "fingerprint_ref": json_values,
        "signature_ref": json_values, "nik": json_values, "name": json_values, "birth_date": json_values,
        "sim_number": json_values, "signal": json_values, "station": json_values,
    },
)


_FUZZ_TOPICS = Topics("s", "l", "d")
_FUZZ_CLIENT = MqttClient("mqtt://127.0.0.1:9", "fuzz")  # never started: handlers are fed directly
_FUZZ_DRIVERS = [cls(_FUZZ_CLIENT, _FUZZ_TOPICS) for cls in
                 (MqttPaymentTerminal, MqttBiometricStation, MqttCardReader, MqttDisplay)]


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(body=event_like, raw=st.binary(max_size=50))
def test_driver_handlers_never_raise_on_random_payloads(body: dict[str, Any], raw: bytes) -> None:
    topics = _FUZZ_TOPICS
    for driver in _FUZZ_DRIVERS:
        before = driver.malformed
        for payload in (json.dumps(body).encode(), raw):
            driver._on_event(topics.event, payload, False)
            driver._on_ack(topics.ack, payload, False)
            driver._on_state(topics.state, payload, True)
            driver._on_availability(topics.availability, payload, True)
        assert driver.malformed > before  # JSON is never a valid availability: always counted


def test_device_going_offline_outside_the_event_loop_is_recorded_without_error() -> None:
    """The handlers are plain functions: fed from a thread without an event loop (a replay tool, the
    fuzz test above when it draws ``offline``), availability changes are recorded, nothing raises."""
    driver = MqttPaymentTerminal(_FUZZ_CLIENT, Topics("s", "l", "offline-test"))
    topic = driver.topics.availability
    driver._on_availability(topic, codec.ONLINE, True)
    driver._on_availability(topic, codec.OFFLINE, True)
    driver._on_availability(topic, codec.ONLINE, True)
    assert driver._available


def test_malformed_card_event_is_logged_without_personal_data(caplog) -> None:
    driver = MqttCardReader(_FUZZ_CLIENT, Topics("s", "l", "card-reader"))
    body = {"v": 1, "ts": "2026-01-01T00:00:00Z", "type": "card", "nik": "3174010101900001",
            "name": "Budi Contoh", "birth_date": "1990-13-01", "sim_number": "900101234567"}
    with caplog.at_level("DEBUG"):
        for _ in range(12):
            driver._on_event(driver.topics.event, json.dumps(body).encode(), False)
    assert driver.malformed == 12
    text = caplog.text
    for secret in ("3174010101900001", "Budi", "1990-13-01", "900101234567"):
        assert secret not in text
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "malformed" in r.getMessage()]
    assert len(warnings) == 2  # the 1st and the 10th: a babbling device does not flood the log
