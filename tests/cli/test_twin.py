"""``lajur twin``: a day's profile from a file or from the site's history, and a short day run through
the real controller and simulators, scenarios side by side."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from cli.main import main
from lane.errors import ConfigError
from lane.persistence import Store, upgrade_database
from lane.persistence.models import SideEffect, StageTransition, VisitRow
from lane.settings import load_settings
from simulators.day import load_profile
from simulators.history import profile_from_history


def test_a_csv_profile_gives_arrivals_per_hour_and_default_step_times(tmp_path):
    path = tmp_path / "monday.csv"
    path.write_text("hour,arrivals\n08,18\n9,30\n10:00,26\n", encoding="utf-8")
    profile = load_profile(path)
    assert profile.arrivals == {8: 18, 9: 30, 10: 26}
    assert (profile.opens, profile.closes) == (8, 11)
    assert profile.times.capture == 70 and profile.sources["capture"] == "default"
    offsets = profile.arrival_offsets(seed=3)
    assert offsets == sorted(offsets) and all(0 <= t < 3 * 3600 for t in offsets)
    assert offsets == profile.arrival_offsets(seed=3)  # the same day for every scenario


def test_a_toml_profile_sets_step_times_staff_and_refusals(tmp_path):
    path = tmp_path / "busy.toml"
    path.write_text('name = "Senin"\n[arrivals]\n"08" = 20\n[times]\ncapture = 90\nprint_card = 60\n'
                    '[staff]\nwindow-3 = "B"\n[drivers]\nrefused_share = 0.2\n', encoding="utf-8")
    profile = load_profile(path)
    assert profile.name == "Senin" and profile.times.capture == 90 and profile.print_seconds == 60
    assert profile.staff == {"window-1": "A", "window-2": "B", "window-3": "B"}
    assert profile.refused_share == 0.2 and profile.sources["capture"] == "profile"


@pytest.mark.parametrize("name,text,expected", [
    ("a.csv", "hour;arrivals\n8;10\n", "starts with the line 'hour,arrivals'"),
    ("a.csv", "hour,arrivals\n25,10\n", "hours run 0-23"),
    ("a.csv", "hour,arrivals\n8,many\n", "line 2: 'many' is not a number"),
    ("a.csv", "hour,arrivals\n8,10\n08,3\n", "listed twice"),
    ("a.toml", '[arrivals]\n"08" = 10\n[times]\nlunch = 30\n', "unknown step(s) ['lunch']"),
    ("a.toml", '[arrivals]\n"08" = 0\n', "no arrivals"),
    ("a.toml", "arrivals = [", "not valid TOML"),
    ("a.txt", "8,10", "a .csv or a .toml file"),
])
def test_a_bad_profile_is_one_clear_error_naming_the_file(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    assert expected in str(err.value) and str(path) in str(err.value)


def test_twin_help_explains_the_profile_file(capsys):
    with pytest.raises(SystemExit):
        main(["twin", "--help"])
    out = capsys.readouterr().out
    assert "hour,arrivals" in out and "[arrivals]" in out and "refused_share" in out and "--history" in out


def _history(store: Store, day: datetime, n: int) -> None:
    """``n`` finished visits on one day whose records show capture 80 s and a 50 s card."""
    with store.session() as s:
        for i in range(n):
            start = day + timedelta(minutes=6 * i)
            vid = f"lane-1-{day:%Y%m%d}-{i + 1:04d}"
            secs = {"arriving": 20, "verifying": 30 + i % 3, "paying": 45, "capturing": 100, "printing": 60,
                    "handing_over": 20, "exiting": 25}
            s.add(VisitRow(id=vid, lane="lane-1", seq=i + 1, stage="done", outcome="completed",
                           started_at=start, ended_at=start + timedelta(seconds=300), sim_started=0.0,
                           sim_ended=300.0, stage_seconds=secs, updated_at=start))
            t = 0.0
            for stage in ("verifying", "paying", "capturing", "printing", "handing_over", "exiting", "done"):
                prev = {"verifying": "arriving"}.get(stage)
                t += {"verifying": 20, "paying": secs["verifying"], "capturing": 45, "printing": 100,
                      "handing_over": 60, "exiting": 20, "done": 25}[stage]
                s.add(StageTransition(visit_id=vid, from_stage=prev, to_stage=stage,
                                      at=start + timedelta(seconds=t), sim_at=t))
            into_capturing = 20 + secs["verifying"] + 45
            # sent on to window 2 eight seconds into capturing: 12 s of driving, then an 80 s photo
            moved = start + timedelta(seconds=into_capturing + 8)
            s.add(SideEffect(key=f"{vid}-move-window-2", visit_id=vid, lane="lane-1", kind="move", status="done",
                             detail={}, created_at=moved, updated_at=moved))
            card_at = start + timedelta(seconds=into_capturing + 100)
            s.add(SideEffect(key=f"{vid}-card", visit_id=vid, lane="lane-1", kind="card_print", status="done",
                             detail={"printer": "card-printer"}, created_at=card_at,
                             updated_at=card_at + timedelta(seconds=50)))


def test_history_gives_arrivals_per_hour_and_the_time_each_step_took(tmp_path):
    url = f"sqlite:///{tmp_path}/site.db"
    upgrade_database(url)
    store = Store(url)
    day = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # 08:00 WIB
    _history(store, day, 12)
    profile = profile_from_history(load_settings(database_url=url), days=5, store=store,
                                   now=day + timedelta(days=2))
    store.close()
    assert profile.arrivals == {8: 10, 9: 2}  # one every 6 minutes from 08:00
    assert profile.times.handover == 20 and profile.sources["handover"] == "history (n=12)"
    assert 30 <= profile.times.tap_ektp <= 32 and profile.times.pay == 45
    assert profile.times.capture == 80  # from being sent on to window 2, less the drive
    assert profile.print_seconds == 50
    assert profile.refused_share == 0.0
    assert profile.sources["drive_up"] == "default"


def test_history_without_visits_says_to_use_a_profile(tmp_path):
    url = f"sqlite:///{tmp_path}/empty.db"
    upgrade_database(url)
    with pytest.raises(ConfigError, match="use --profile"):
        profile_from_history(load_settings(database_url=url))


def test_a_short_day_runs_through_the_real_controller_and_compares_scenarios(tmp_path, capsys):
    profile = tmp_path / "short.toml"
    profile.write_text('[arrivals]\n"08" = 5\n[drivers]\nrefused_share = 0.2\n', encoding="utf-8")
    out = tmp_path / "out"
    code = main(["twin", "--profile", str(profile), "--scenarios", "baseline,officer-1", "--speed", "400",
                 "--seed", "2", "--out", str(out), "--json"])
    assert code == 0
    fig = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [s["scenario"] for s in fig["scenarios"]] == ["baseline", "officer-1"]
    base, fewer = fig["scenarios"]
    assert base["cars"] == fewer["cars"] >= 1  # the same arrivals in both
    assert base["officers_per_lane"] == 3 and fewer["officers_per_lane"] == 2
    for s in fig["scenarios"]:
        assert s["served"] == s["cars"] and s["not_served"] == 0
        assert sum(h["served"] for h in s["per_hour"]) == s["served"]
        assert sum(h["arrived"] for h in s["per_hour"]) == s["cars"]
        assert s["per_hour"][0]["hour"] == 8
        assert 60 < s["p95_from_entry"] <= s["p95_from_queue"]
        assert s["road"] and s["road"][0][0] < 60  # the road sampled from opening
        assert set(s["outcomes"]) <= {"completed", "refused"}
    page = (out / "twin.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 3 and "officer-1" in page and "<script" not in page
    assert "Kendaraan terlayani per jam" in page and "kurang satu petugas" in page  # Bahasa first
    data = json.loads((out / "twin.json").read_text(encoding="utf-8"))
    assert len(data["runs"][0]["cars"]) == base["cars"]
