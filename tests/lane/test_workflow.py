from datetime import UTC, datetime

import pytest

from lane.errors import WorkflowError
from lane.settings import STAGE_BUDGETS_DEFAULT
from lane.workflow import STAGES, Outcome, Stage, Station, VisitState, next_stage, stations_between


def visit() -> VisitState:
    return VisitState(id="v1", lane="lane-1", seq=1, started=0.0, started_at=datetime(2026, 11, 23, tzinfo=UTC))


def test_stage_table_covers_the_lane_in_order_and_budgets_add_to_ten_minutes():
    assert [s.stage for s in STAGES] == [Stage.QUEUED, Stage.ARRIVING, Stage.VERIFYING, Stage.PAYING,
                                         Stage.CAPTURING, Stage.PRINTING, Stage.HANDING_OVER, Stage.EXITING]
    assert [s.station for s in STAGES] == [Station.ENTRY, Station.ENTRY, Station.WINDOW_1, Station.WINDOW_1,
                                           Station.WINDOW_2, Station.WINDOW_3, Station.WINDOW_3, Station.EXIT]
    # the promise is the lane's stages; the wait before the entry has a budget of its own
    assert sum(v for k, v in STAGE_BUDGETS_DEFAULT.items() if k != "queued") == 600
    assert STAGE_BUDGETS_DEFAULT["queued"] > 0


def test_every_transition_of_a_completed_visit():
    v = visit()
    t = 0.0
    seen = [v.stage]
    while not v.finished:
        t += 10
        v.advance(t)
        seen.append(v.stage)
    assert seen == [*(s.stage for s in STAGES), Stage.DONE]
    assert v.outcome is Outcome.COMPLETED
    assert v.elapsed(1000) == 70 and v.door_to_door(1000) == 80 and v.queued_seconds(1000) == 10
    assert set(v.stage_seconds(80)) == {s.stage.value for s in STAGES}


def test_the_promise_runs_from_the_entry_and_the_queue_wait_is_counted_apart():
    """A car waits 20 minutes before the entry and spends 8 in the lane: it kept the ten-minute promise
    from the entry, not from joining the queue, and both figures say so."""
    v = visit()
    assert v.stage is Stage.QUEUED and v.entered is None and v.elapsed(300) == 0
    v.advance(1200)  # window 1 free: the entry opens
    assert v.stage is Stage.ARRIVING and v.entered == 1200
    v.advance(1220, Stage.EXITING)
    v.advance(1680)
    assert v.elapsed(2000) == 480 and v.queued_seconds(2000) == 1200 and v.door_to_door(2000) == 1680


def test_no_going_back_and_nothing_after_done():
    v = visit()
    v.advance(1)
    v.advance(1.5)
    with pytest.raises(WorkflowError):
        v.advance(2, Stage.ARRIVING)
    v.advance(3, Stage.EXITING)
    v.advance(4)
    with pytest.raises(WorkflowError):
        v.advance(5)
    with pytest.raises(WorkflowError):
        next_stage(Stage.DONE)


def test_refused_visit_goes_straight_to_exit_with_reason():
    v = visit()
    v.advance(1)
    v.advance(5)
    v.refuse(20, "sim_expired")
    assert v.stage is Stage.EXITING and v.outcome is Outcome.REFUSED and v.reason == "sim_expired"
    with pytest.raises(WorkflowError):
        v.advance(21, Stage.PRINTING)
    v.advance(30)
    assert v.finished and v.outcome is Outcome.REFUSED


def test_refusal_only_while_verifying():
    with pytest.raises(WorkflowError):
        visit().refuse(1, "x")


def test_abort_needs_reason_and_leaves_by_exit():
    v = visit()
    v.advance(1)
    v.advance(2)
    v.advance(2.5)
    with pytest.raises(WorkflowError):
        v.abort(3, "")
    v.abort(3, "driver left the car")
    assert v.stage is Stage.EXITING and v.outcome is Outcome.ABORTED


def test_held_stage_cannot_advance_until_resumed():
    v = visit()
    v.hold("card-printer: ribbon_out")
    with pytest.raises(WorkflowError):
        v.advance(1)
    v.resume()
    v.advance(1)
    assert v.stage is Stage.ARRIVING


def test_budget_alerts_raise_once_per_stage_and_once_for_the_visit():
    v = visit()
    budgets = dict(STAGE_BUDGETS_DEFAULT)
    assert v.budget_alerts(299, budgets, 600) == []
    assert v.budget_alerts(301, budgets, 600) == ["stage_over_budget:queued"]
    v.advance(700)  # entered after more than the promise spent waiting: no visit alert for that
    assert v.budget_alerts(729, budgets, 600) == []
    assert v.budget_alerts(731, budgets, 600) == ["stage_over_budget:arriving"]
    assert v.budget_alerts(740, budgets, 600) == []
    v.advance(740)
    assert v.budget_alerts(1301, budgets, 600) == ["stage_over_budget:verifying", "visit_over_budget"]
    assert v.budget_alerts(1400, budgets, 600) == []


def test_an_abort_before_the_entry_backs_the_car_out_and_ends_the_visit():
    v = visit()
    v.abort(30, "driver turned away")
    assert v.finished and v.outcome is Outcome.ABORTED and v.elapsed(40) == 0 and v.queued_seconds(40) == 30


def test_no_overtaking_path_between_stations():
    assert stations_between(Station.WINDOW_1, Station.EXIT) == (Station.WINDOW_2, Station.WINDOW_3, Station.EXIT)
    assert stations_between(None, Station.ENTRY) == (Station.ENTRY,)


def test_every_stage_of_the_table_has_its_handler_and_nothing_else_does():
    """The stage table drives the engine: a stage added to STAGES without a handler (or a handler for a
    stage the table does not have) is caught here, not in a lane that stops at that stage."""
    from lane.stages import HANDLERS

    assert list(HANDLERS) == [s.stage for s in STAGES]
    assert all(callable(h) for h in HANDLERS.values())
