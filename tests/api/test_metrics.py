"""``/metrics`` as Prometheus scrapes it from a running lane (real ports, broker, database), and the
Grafana dashboard in deploy/grafana/ drawing only metrics that exist there."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from simulators.ports import free_port
from tests.lane.test_lane_end_to_end import running_lane

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "lanes.json"


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def _value(samples, name: str, **labels: str) -> float:
    matching = [v for lab, v in samples.get(name, []) if all(lab.get(k) == x for k, x in labels.items())]
    assert len(matching) == 1, f"{name}{labels}: {samples.get(name)}"
    return matching[0]


def _dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dash["templating"]["list"] if v.get("definition")]
    return exprs


async def test_a_lanes_visit_shows_in_metrics_and_every_dashboard_metric_is_scraped(mqtt_broker, tmp_path):
    async with running_lane(mqtt_broker.url, tmp_path) as lane, httpx.AsyncClient(timeout=10) as http:
        url = lane.site.serve_api("127.0.0.1", free_port())
        before = _samples((await http.get(f"{url}/metrics")).text)
        [visit] = await lane.run(lane.driver())
        response = await http.get(f"{url}/metrics")
        unacknowledged = [a for a in lane.site.store.alerts("lane-1") if a.acknowledged_by is None
                          and a.cleared_at is None]
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    after = _samples(response.text)

    assert _value(before, "lajur_lane_driven", lane="lane-1") == 1
    assert _value(before, "lajur_visits_ended_total", lane="lane-1", outcome="completed") == 0
    assert _value(after, "lajur_visits_ended_total", lane="lane-1", outcome="completed") == 1
    assert visit["outcome"] == "completed"
    for stage, seconds in visit["stages"].items():
        assert _value(after, "lajur_stage_seconds_count", lane="lane-1", stage=stage) == 1
        assert _value(after, "lajur_stage_seconds_sum", lane="lane-1", stage=stage) == seconds
    assert _value(after, "lajur_visit_seconds_count", lane="lane-1") == 1
    # each gate reacted once to the vehicle clearing it, the exit also to the vehicle arriving
    for kind in ("entry_close", "exit_open", "exit_close"):
        assert _value(after, "lajur_event_to_command_seconds_count", lane="lane-1", kind=kind) == 1
        assert 0 < _value(after, "lajur_event_to_command_seconds_sum", lane="lane-1", kind=kind) < 2
    assert _value(after, "lajur_visits_active", lane="lane-1") == 0
    assert sum(_value(after, "lajur_visits_by_stage", lane="lane-1", stage=s) for s in visit["stages"]) == 0
    assert _value(after, "lajur_lane_queue_length", lane="lane-1") == 0
    assert _value(after, "lajur_device_online", lane="lane-1", device="entry-gate") == 1
    assert _value(after, "lajur_database_up") == 1 and _value(after, "lajur_database_journal_records") == 0
    for level in ("warning", "critical"):  # e.g. a stage over its budget on a busy machine: cleared with the visit
        assert _value(after, "lajur_alerts_open", lane="lane-1", level=level) == sum(
            1 for a in unacknowledged if a.level == level) == 0

    used = {name for expr in _dashboard_exprs() for name in re.findall(r"\blajur_[a-z_]+", expr)}
    assert used, "the dashboard draws nothing"
    missing = sorted(name for name in used if name not in after)
    assert not missing, f"the dashboard uses metrics /metrics does not have: {missing}"


def test_the_dashboard_is_grafana_json_with_a_query_in_every_panel():
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    panels = dash["panels"]
    assert dash["uid"] and dash["title"] and len({p["id"] for p in panels}) == len(panels)
    drawn = [p for p in panels if p["type"] != "row"]
    assert {"timeseries", "stat", "table"} <= {p["type"] for p in drawn}
    for p in drawn:
        assert p["targets"] and all(t["expr"].strip() for t in p["targets"]), p["title"]
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        assert {"x", "y", "w", "h"} <= set(p["gridPos"]) and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
        for t in p["targets"]:  # balanced brackets: a typo Grafana would only show as an error
            for a, b in ("()", "{}", "[]"):
                assert t["expr"].count(a) == t["expr"].count(b), t["expr"]
