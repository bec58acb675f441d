"""Whole visits through the real transports: gates and printers on pseudo-terminals, the other
devices over a private Mosquitto under the site's accounts and ACL (each device logged in as itself),
registry and cameras over HTTP, SQLite on disk. Assertions are what a person (or the ledger of
physical effects) would see."""

from __future__ import annotations

import asyncio
import contextlib
import random

import cv2
import pytest

from cli.compose import Site
from cli.run import settings_for_simulated_site
from lane.actions import RetryFailed
from lane.clock import ScaledClock
from lane.settings import load_settings
from simulators.ledger import Ledger
from simulators.officer import OfficerSimulator
from simulators.site import SimulatedSite
from simulators.traffic import HumanTimes, LaneTraffic, VirtualDriver, make_driver
from tests.fixtures.plate_models import site_models_dir
from vision.datasets import labelled_crops
from vision.models import current_directory

SPEED = 150


class Lane:
    def __init__(self, sim: SimulatedSite, site: Site, clock: ScaledClock, times: HumanTimes) -> None:
        self.sim, self.site, self.clock = sim, site, clock
        self.ctl = site.controllers["lane-1"]
        self.traffic = LaneTraffic(sim.lanes["lane-1"], sim.camera, clock, random.Random(3), times, sim.ledger)
        self.finished: list[dict] = []
        self.ctl.on_visit_finished.append(self.finished.append)
        self.officer = OfficerSimulator(lambda _lane: self.ctl.act, site.bus, clock,
                                        plate_at_entry=lambda _l: (self.traffic.at["entry"].plate
                                                                   if self.traffic.at["entry"] else None))
        self.officer.start()
        self.number = 0

    def driver(self, problem_index: int = 1) -> VirtualDriver:
        """``problem_index`` 1 → eligible; 3 → expired SIM; 6 → someone else's e-KTP; 9 → old certificate."""
        self.number += 1
        d = make_driver(problem_index, random.Random(self.number * 101), self.clock.now().date(), "lane-1")
        self.sim.registry.add(d.person)
        return d

    async def run(self, *drivers: VirtualDriver, gap: float = 0.0, timeout: float = 60) -> list[dict]:
        start = len(self.finished)
        tasks = []
        for d in drivers:
            tasks.append(asyncio.create_task(self.traffic.drive(d)))
            await self.clock.sleep(gap)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout)
        await asyncio.wait_for(self._until(lambda: len(self.finished) >= start + len(drivers)), timeout)
        return self.finished[start:]

    @staticmethod
    async def _until(cond) -> None:
        while not cond():
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running_lane(mqtt_url: str, tmp_path, times: HumanTimes | None = None, database_url: str | None = None,
                       credentials_dir=None, gate_transport: str = "serial", card_printers: int = 1,
                       print_seconds: float = 40.0, **settings):
    """A one-lane simulated site with its controller, traffic and officer; always stopped. SQLite in
    ``tmp_path`` unless ``database_url`` names another database; gates on ``gate_transport`` (serial
    or mqtt); ``settings`` override the lane's. With ``credentials_dir`` every device and the controller
    log in with their own accounts."""
    clock = ScaledClock(SPEED)
    sim = SimulatedSite(site="test-site", lanes=1, clock=clock, mqtt_url=mqtt_url,
                        ledger=Ledger(tmp_path / "ledger.jsonl"), credentials_dir=credentials_dir,
                        gate_transport=gate_transport, card_printers=card_printers, print_seconds=print_seconds)
    await sim.start()
    settings = settings_for_simulated_site(load_settings(database_url=database_url or f"sqlite:///{tmp_path}/lajur.db",
                                                         plate_samples_dir=tmp_path / "plate-samples",
                                                         **settings), sim)
    site = Site(settings, clock, poll_interval=0.01)
    lane = None
    try:
        await site.start()
        lane = Lane(sim, site, clock, times or HumanTimes())
        yield lane
    finally:
        if lane:
            await lane.officer.stop()
            lane.traffic.close()
        await site.stop()
        await sim.stop()


@pytest.fixture
async def lane(site_mqtt_broker, tmp_path, request):
    async with running_lane(site_mqtt_broker.url, tmp_path, getattr(request, "param", None),
                            credentials_dir=site_mqtt_broker.credentials.path) as harness:
        yield harness


def _closed_on_vehicle(ledger: Ledger) -> list[dict]:
    return [e for e in ledger.effects("gate_closed") if e.get("safety_loop_occupied")]


async def test_full_visit_through_real_ports_and_broker(lane):
    driver = lane.driver()
    [visit] = await lane.run(driver)
    assert visit["outcome"] == "completed" and visit["plate"] == driver.plate
    assert list(visit["stages"]) == ["queued", "arriving", "verifying", "paying", "capturing", "printing",
                                     "handing_over", "exiting"]
    assert 60 < visit["seconds"] < 900
    ledger = lane.sim.ledger
    assert [e["renewal_id"] for e in ledger.effects("card_printed")] == [visit["id"]]
    [charge] = ledger.effects("charge_made")
    assert charge["amount"] == (80_000 if driver.person.sim_class == "A" else 75_000)
    assert [e["kind"] for e in ledger.effects("receipt_printed")] == ["receipt"]
    assert {e["device"] for e in ledger.effects("gate_opened")} == {"entry-gate", "exit-gate"}
    assert not _closed_on_vehicle(ledger)
    assert [e["plate"] for e in ledger.effects("vehicle_entered")] == [driver.plate]
    assert [e["plate"] for e in ledger.effects("vehicle_left")] == [driver.plate]
    store = lane.site.store
    row = store.get_visit(visit["id"])
    assert row.outcome == "completed" and row.paid and row.stage == "done"
    stages = [t.to_stage for t in store.transitions(visit["id"])]
    assert [s for i, s in enumerate(stages) if i == 0 or s != stages[i - 1]] == [
        "queued", "arriving", "verifying", "paying", "capturing", "printing", "handing_over", "exiting", "done"]
    # state was persisted before side effects: every effect has its intent record, settled
    effects = {e.kind: e.status for e in store.side_effects(visit["id"])}
    assert effects["charge"] == "done" and effects["card_print"] == "done" and effects["gate_open"] == "done"


@pytest.mark.parametrize("problem,reason", [(3, "sim_expired"), (6, "nik_mismatch"),
                                            (9, "health_certificate_expired")])
async def test_ineligible_driver_is_refused_with_reason_and_leaves_by_the_exit(lane, problem, reason):
    [visit] = await lane.run(lane.driver(problem))
    assert visit["outcome"] == "refused" and visit["reason"] == reason
    assert "paying" not in visit["stages"] and "printing" not in visit["stages"]
    ledger = lane.sim.ledger
    assert not ledger.effects("card_printed") and not ledger.effects("charge_made")
    assert [e["kind"] for e in ledger.effects("receipt_printed")] == ["referral"]
    assert len(ledger.effects("gate_opened")) == 2 and not _closed_on_vehicle(ledger)


async def test_several_vehicles_keep_their_order_and_share_the_lane(lane):
    drivers = [lane.driver(), lane.driver(3), lane.driver(), lane.driver()]
    seen_together = 0

    def watch(ev):
        nonlocal seen_together
        snap = lane.ctl.snapshot()
        seen_together = max(seen_together, sum(1 for v in snap["stations"].values() if v))
        ids = [v for v in snap["stations"].values() if v]
        assert len(ids) == len(set(ids)), "a vehicle in two stations"

    q = lane.site.bus.subscribe()

    async def pump():
        while True:
            watch(await q.get())

    pumper = asyncio.create_task(pump())
    try:
        visits = await lane.run(*drivers, gap=5, timeout=90)
    finally:
        pumper.cancel()
    assert [v["plate"] for v in visits] == [d.plate for d in drivers], "no overtaking in one lane"
    assert [v["outcome"] for v in visits] == ["completed", "refused", "completed", "completed"]
    assert seen_together >= 3, "several vehicles at different windows at once"
    assert len(lane.sim.ledger.effects("card_printed")) == 3
    assert not _closed_on_vehicle(lane.sim.ledger)


@pytest.mark.parametrize("lane", [HumanTimes(capture=200.0, spread=0.01)], indirect=True)
async def test_slow_stage_raises_a_budget_alert(lane):
    [visit] = await lane.run(lane.driver())
    assert visit["outcome"] == "completed" and visit["stages"]["capturing"] > 120
    kinds = [(a.kind, a.visit_id) for a in lane.site.store.alerts("lane-1")]
    assert ("stage_over_budget", visit["id"]) in kinds


@pytest.mark.parametrize("lane", [HumanTimes(capture=380.0, tap_ektp=60, pay=90, spread=0.01)], indirect=True)
async def test_visit_over_ten_minutes_raises_the_louder_alert(lane):
    [visit] = await lane.run(lane.driver())
    assert visit["seconds"] > 600
    alerts = [a for a in lane.site.store.alerts("lane-1") if a.kind == "visit_over_budget"]
    assert alerts and alerts[0].level == "critical"


async def test_printer_fault_holds_the_stage_and_officer_retry_prints_one_card(lane):
    printer = lane.sim.lanes["lane-1"].card_printer
    await printer.inject("ribbon_out")
    driver = lane.driver()
    drive = asyncio.create_task(lane.traffic.drive(driver))
    def printer_held():
        return [v for v in lane.ctl.visits.values() if v.state.held and "card-printer" in v.state.held]

    await asyncio.wait_for(Lane._until(printer_held), 60)
    [held] = printer_held()
    assert "ribbon_out" in held.state.held and held.state.stage.value == "printing"
    assert any(a.kind == "device_fault" for a in lane.site.store.alerts("lane-1"))
    # a retry with the fault still there says so (not a green "done"), and the visit stays held
    with pytest.raises(RetryFailed, match="still fails.*ribbon_out"):
        await lane.ctl.act("retry", actor="siti", role="officer", visit_id=held.id, reason="try once more")
    assert "ribbon_out" in (held.state.held or "")
    await printer.inject("ribbon_out", False)
    result = await lane.ctl.act("retry", actor="siti", role="officer", visit_id=held.id, reason="ribbon replaced")
    assert result["worked"] is True
    await asyncio.wait_for(drive, 60)
    await asyncio.wait_for(Lane._until(lambda: lane.finished), 30)
    assert lane.finished[0]["outcome"] == "completed"
    assert len(lane.sim.ledger.effects("card_printed")) == 1
    audit = lane.site.store.audit_log()
    assert any(a.action == "retry" and a.actor == "siti" and a.reason == "ribbon replaced" for a in audit)


async def test_officer_abort_sends_the_vehicle_out_without_a_card(lane):
    lane.officer._handled.add(("never", "x"))
    driver = lane.driver()
    drive = asyncio.create_task(lane.traffic.drive(driver))
    await asyncio.wait_for(Lane._until(lambda: any(v.state.stage.value == "capturing"
                                                   for v in lane.ctl.visits.values())), 60)
    [visit] = list(lane.ctl.visits.values())
    with pytest.raises(Exception, match="reason"):
        await lane.ctl.act("abort", actor="siti", role="supervisor", visit_id=visit.id)
    await lane.ctl.act("abort", actor="siti", role="supervisor", visit_id=visit.id, reason="driver unwell")
    await asyncio.wait_for(drive, 60)
    await asyncio.wait_for(Lane._until(lambda: lane.finished), 30)
    assert lane.finished[0]["outcome"] == "aborted" and lane.finished[0]["reason"] == "driver unwell"
    assert not lane.sim.ledger.effects("card_printed")


async def test_a_plate_the_camera_cannot_read_surely_waits_for_the_officer_and_is_not_guessed(lane):
    """The entry camera sees only a blurred picture: no plate is bound on its own (the reader is not
    confident), the officer is alerted, types the plate, and the visit goes on under that plate."""
    await lane.sim.device("lane-1", "entry-camera").inject("blurred")
    driver = lane.driver()
    [visit] = await lane.run(driver)
    assert visit["outcome"] == "completed" and visit["plate"] == driver.plate
    notes = [t.note or "" for t in lane.site.store.transitions(visit["id"])]
    assert "plate needs an officer" in notes and "plate confirmed by officer" in notes
    assert not any(n.startswith("plate read ") for n in notes)  # nothing was bound from the camera
    assert [e["plate"] for e in lane.sim.ledger.effects("vehicle_left")] == [driver.plate]
    # the camera's crop with the officer's plate is kept for the reader: the site's own labelled data
    [sample] = labelled_crops(lane.site.settings.plate_samples_dir)
    assert sample.plate == driver.plate and sample.path.name == f"{visit['id']}.jpg"
    assert cv2.imread(str(sample.path), cv2.IMREAD_GRAYSCALE) is not None
    row = (sample.path.parent / "labels.tsv").read_text().splitlines()[1].split("\t")
    assert row[4] in ("confirmed", "typed")


async def test_a_plate_the_officer_corrects_after_admission_is_kept_with_the_last_correction(lane):
    """A plate bound from the camera and corrected later is the reader's most useful sample (a sure read that
    was wrong): the crop is kept with the officer's plate and the camera's beside it. Here the officer types
    another plate, sees the mistake and puts the right one back: the kept label is the last one."""
    driver = lane.driver()
    drive = asyncio.create_task(lane.traffic.drive(driver))
    await asyncio.wait_for(Lane._until(lambda: any(v.state.stage.value == "verifying"
                                                   for v in lane.ctl.visits.values())), 60)
    [visit] = list(lane.ctl.visits.values())
    assert visit.state.plate == driver.plate
    await lane.ctl.act("confirm_plate", actor="siti", role="officer", visit_id=visit.id, plate="H 9999 ZZ",
                       reason="read it off the windscreen")
    assert lane.ctl.shown["window-1"].plate == "H 9999 ZZ", "the sign shows the plate the lane now expects"
    [edit] = [a for a in lane.site.store.audit_log() if a.action == "confirm_plate"]
    assert edit.detail["before"] == {"plate": driver.plate} and edit.detail["after"] == {"plate": "H9999ZZ"}
    await lane.ctl.act("confirm_plate", actor="siti", role="officer", visit_id=visit.id, plate=driver.plate,
                       reason="misread my own note")
    await asyncio.wait_for(drive, 60)
    [sample] = labelled_crops(lane.site.settings.plate_samples_dir)
    assert sample.plate == driver.plate
    rows = [r.split("\t") for r in (sample.path.parent / "labels.tsv").read_text().splitlines()[1:]]
    assert [(r[1], r[2], r[4]) for r in rows] == [("H9999ZZ", driver.plate, "corrected"),
                                                  (driver.plate, "H9999ZZ", "corrected")]


async def test_a_plate_read_surely_is_not_kept_as_a_sample(lane):
    """Only plates an officer gave are kept: labelling a crop with the reader's own answer would teach it
    its own mistakes."""
    [visit] = await lane.run(lane.driver())
    assert visit["outcome"] == "completed"
    assert not (lane.site.settings.plate_samples_dir / "labels.tsv").exists()


async def test_the_lane_reads_plates_with_the_sites_own_learned_files(mqtt_broker, tmp_path):
    """``plate_models_dir``: a site's retrained network with its own calibration is what the entry camera
    reads with. Here its calibration trusts nothing, so a plate the shipped files read surely waits for the
    officer, who confirms it; the shipped files are back for the next lane started without the setting."""
    site_models = site_models_dir(tmp_path / "site-models")
    async with running_lane(mqtt_broker.url, tmp_path, plate_models_dir=site_models) as lane:
        driver = lane.driver()
        [visit] = await lane.run(driver)
        assert visit["outcome"] == "completed" and visit["plate"] == driver.plate
        notes = [t.note or "" for t in lane.site.store.transitions(visit["id"])]
        assert "plate needs an officer" in notes and "plate confirmed by officer" in notes
        assert not any(n.startswith("plate read ") for n in notes)
    async with running_lane(mqtt_broker.url, tmp_path / "again") as lane:
        assert current_directory() is None
        [visit] = await lane.run(lane.driver())
        notes = [t.note or "" for t in lane.site.store.transitions(visit["id"])]
        assert any(n.startswith("plate read ") for n in notes)
