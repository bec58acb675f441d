"""An intruder on the device network, as issue 23 found one: a rogue MQTT client on the lane's real
broker (anonymous here, as the test broker allows; with the site's ACL it would need a stolen device
credential, and could then speak only on that device's topics) watches a whole lane and forges what it
can while a driver renews: an ack from the entry gate for a command never sent, a card event harvested
from the previous driver and replayed, a "paid" for the wrong amount naming the real charge, and a
"paid" naming nothing. The controller believes none of it, raises one alert per device and reason with
no personal data, and the visit goes on with the real devices: the driver's own card, one charge for
exactly the fee."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from typing import Any

from devices import mqtt_codec as codec
from simulators.traffic import HumanTimes
from tests.lane.test_lane_end_to_end import running_lane

ROOT = "lajur/test-site/lane-1"
# slow people, so the forgeries (sent the moment the rogue sees a command) come first
SLOW = HumanTimes(tap_ektp=120.0, pay=150.0, spread=0.01)


class Rogue:
    """Reads everything on the lane's topics and forges answers to what the controller asks."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.harvested_card: bytes | None = None
        self.armed = False
        self.forged: list[str] = []
        client.subscribe(f"{ROOT}/#", self._seen)

    def _seen(self, topic: str, payload: bytes, _retained: bool) -> None:
        try:
            body = json.loads(payload)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        device, kind = topic.removeprefix(ROOT + "/").split("/", 1)
        if kind == "event" and body.get("type") == "card" and self.harvested_card is None:
            self.harvested_card = payload  # someone else's e-KTP, as it went over the network
        if not self.armed or kind != "cmd":
            return
        op = body.get("op")
        if device == "entry-gate" and op == "open":
            self._forge(f"{ROOT}/entry-gate/ack", codec.encode(codec.ack(secrets.token_hex(16), True)), "gate ack")
        elif device == "card-reader" and op == "read" and self.harvested_card is not None:
            self._forge(f"{ROOT}/card-reader/event", self.harvested_card, "replayed card")
        elif device == "payment" and op == "charge":
            paid = {"type": "payment", "reference": body["reference"], "status": "paid", "detail": ""}
            self._forge(f"{ROOT}/payment/event", codec.encode({**paid, "command": body["id"],
                                                               "amount": body["amount"] - 1}), "paid, less")
            self._forge(f"{ROOT}/payment/event", codec.encode({**paid, "amount": body["amount"]}), "paid, for nothing")

    def _forge(self, topic: str, payload: bytes, what: str) -> None:
        self.forged.append(what)
        asyncio.ensure_future(self.client.publish(topic, payload, qos=1))


async def test_a_rogue_client_forges_gate_card_and_payment_and_the_visit_goes_on_with_the_real_devices(
        mqtt_broker, mqtt_client_factory, tmp_path, caplog):
    async with running_lane(mqtt_broker.url, tmp_path, SLOW, gate_transport="mqtt") as lane:
        client = mqtt_client_factory("rogue")
        await client.start()
        await client.wait_connected(10)
        rogue = Rogue(client)
        first = lane.driver()
        [harvest] = await lane.run(first, timeout=60)  # the rogue only listens, and harvests a card
        assert harvest["outcome"] == "completed" and rogue.harvested_card is not None
        rogue.armed = True
        victim = lane.driver()
        assert victim.card.sim_number != first.card.sim_number
        [visit] = await lane.run(victim, timeout=90)

    assert sorted(rogue.forged) == ["gate ack", "paid, for nothing", "paid, less", "replayed card"]
    assert visit["outcome"] == "completed"
    store = lane.site.store
    row = store.get_visit(visit["id"])
    assert (row.nik, row.sim_number) == (victim.card.nik, victim.card.sim_number), "the driver's own card"
    charges = [e for e in lane.sim.ledger.effects("charge_made") if e["reference"].startswith(visit["id"])]
    assert [e["amount"] for e in charges] == [row.fee], "one charge, for exactly the fee"
    assert row.paid
    refused = {re.match(r"(\S+): refused a message: (\w+)", a.message).groups()
               for a in store.alerts("lane-1") if a.kind == "message_refused"}
    assert {("entry-gate", "not_outstanding"), ("card-reader", "not_outstanding"), ("payment", "wrong_amount"),
            ("payment", "unsolicited")} <= refused, refused
    told = {(a.facts["device"], a.facts["reason"]) for a in store.alerts("lane-1") if a.kind == "message_refused"}
    assert told == refused, "the facts a page words the alert from say the same"
    text = " ".join(a.message for a in store.alerts("lane-1"))
    for person in (first.card, victim.card):
        assert person.nik not in text and person.name not in text and person.nik not in caplog.text
    counts = lane.ctl.refused.counts
    assert counts[("payment", "wrong_amount")] == 1 and counts[("card-reader", "not_outstanding")] == 1
