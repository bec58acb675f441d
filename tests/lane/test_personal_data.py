"""Personal data in a running lane (UU 27/2022), on the real transports: a whole visit logged at DEBUG
level never writes the driver's NIK, name, SIM number or birth date; the biometric station deletes
the visit's photo, fingerprint and signature once the card is handed over (later, if it was away);
and the controller erases old visits' personal data by itself."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

from lane.clock import ScaledClock
from lane.persistence import Store, VisitRow, upgrade_database
from lane.privacy import purge_loop
from lane.settings import Settings
from tests.lane.test_lane_end_to_end import running_lane


async def _until(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_a_visit_logged_at_debug_level_writes_no_personal_data_and_leaves_no_captures(
        mqtt_broker, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, as `lajur -v` would
    async with running_lane(mqtt_broker.url, tmp_path) as lane:
        driver = lane.driver()
        refused = lane.driver(3)  # expired SIM: refused, with a referral slip
        [visit] = await lane.run(driver)
        await lane.run(refused)
        station = lane.sim.lanes["lane-1"].biometric
        await _until(lambda: visit["id"] in station.deleted, 10, "the captures deleted from the station")
        assert visit["id"] not in station.captured
        assert [e["renewal_id"] for e in lane.sim.ledger.effects("biometrics_deleted")] == [visit["id"]]
        assert lane.site.store.side_effect(f"{visit['id']}-biometric_delete").status == "done"
    assert visit["outcome"] == "completed" and len(caplog.records) > 100
    for person in (driver.card, refused.card):
        for secret in (person.nik, person.name, person.sim_number, person.birth_date.isoformat()):
            assert secret not in caplog.text, f"{secret!r} in the log"


async def test_a_station_away_when_the_visit_ends_deletes_the_captures_when_it_is_back(mqtt_broker, tmp_path):
    async with running_lane(mqtt_broker.url, tmp_path) as lane:
        station = lane.sim.lanes["lane-1"].biometric

        async def away_after_capture() -> None:
            await _until(lambda: any(v.state.stage.value == "printing" for v in lane.ctl.visits.values()), 60,
                         "printing")
            await station.inject("offline")

        away = asyncio.create_task(away_after_capture())
        [visit] = await lane.run(lane.driver())
        await away
        assert visit["outcome"] == "completed" and visit["id"] in station.captured
        effect = lane.site.store.side_effect(f"{visit['id']}-biometric_delete")
        assert effect.status == "intended", "asked for, and kept until the station acks"
        await station.inject("offline", False)
        await _until(lambda: visit["id"] in station.deleted, 15, "deleted once the station is back")
        await _until(lambda: lane.site.store.side_effect(effect.key).status == "done", 5, "settled")


async def test_the_controller_erases_old_visits_personal_data_by_itself(mqtt_broker, tmp_path):
    url = f"sqlite:///{tmp_path}/lajur.db"
    upgrade_database(url)
    store = Store(url)
    ended = datetime.now(UTC) - timedelta(days=31)
    store.save_visit(VisitRow(id="lane-1-old-0001", lane="lane-1", seq=900, stage="done", outcome="completed",
                              nik="3325014507900001", holder_name="Siti Rahayu", sim_number="332501450790",
                              plate="G1234ABC", started_at=ended - timedelta(minutes=8), ended_at=ended,
                              photo_ref="biometric/lane-1-old-0001/photo.jpg",
                              signature_ref="biometric/lane-1-old-0001/signature.png",
                              fingerprint_ref="biometric/lane-1-old-0001/fingerprint.wsq",
                              stage_seconds={"paying": 60.0}, updated_at=ended))
    store.close()
    async with running_lane(mqtt_broker.url, tmp_path, database_url=url) as lane:
        await _until(lambda: lane.site.store.get_visit("lane-1-old-0001").purged_at is not None, 10,
                     "the controller's purge")
        row = lane.site.store.get_visit("lane-1-old-0001")
        assert (row.nik, row.holder_name, row.sim_number, row.plate) == (None, None, None, None)
        assert (row.photo_ref, row.signature_ref, row.fingerprint_ref) == (None, None, None)
        assert row.stage_seconds == {"paying": 60.0} and row.outcome == "completed"
        # the audit line is the purge's next write (the store's writer may not have committed it yet)
        await _until(lambda: any(a.action == "purge_personal_data" and a.role == "system"
                                 for a in lane.site.store.audit_log()), 10, "the purge's audit line")


async def test_the_purge_runs_every_hour_of_the_lane_clock(store):
    """On an injectable clock at 36,000x (an hour every 0.1 s): a visit that was 29 days old at start
    is erased once it passes 30 days, by a later hourly run, with nothing else poking it."""
    start = datetime(2026, 6, 1, 12, tzinfo=UTC)
    clock = ScaledClock(36_000, start=start)
    for i, age in enumerate((31, 29.5), start=1):
        ended = start - timedelta(days=age)
        store.save_visit(VisitRow(id=f"lane-1-x-{i}", lane="lane-1", seq=i, stage="done", outcome="completed",
                                  nik="3325014507900001", started_at=ended, ended_at=ended, updated_at=ended))
    task = asyncio.create_task(purge_loop(store, clock, Settings()))
    try:
        await _until(lambda: store.get_visit("lane-1-x-1").nik is None, 5, "the first run")
        assert store.get_visit("lane-1-x-2").nik is not None, "29.5 days old: kept"
        await _until(lambda: store.get_visit("lane-1-x-2").nik is None, 10, "an hourly run 12 clock-hours on")
        assert clock.now() - start >= timedelta(hours=12)
    finally:
        task.cancel()
