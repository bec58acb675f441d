"""A one-shot message on a driver display stays long enough to read: a refusal is not replaced by
"please wait" a moment later, but the car moving on ends the hold at once."""

from __future__ import annotations

import asyncio

from simulators.traffic import HumanTimes
from tests.lane.test_lane_end_to_end import running_lane


async def test_a_refusal_stays_until_the_hold_ends_or_the_car_is_sent_on(mqtt_broker, tmp_path):
    # The car ahead takes five minutes for its photo, so the refused car behind it waits at window 1
    # for the way to the exit: before, "please wait" replaced its refusal within milliseconds.
    async with running_lane(mqtt_broker.url, tmp_path, HumanTimes(capture=300.0, spread=0.05)) as lane:
        seen: list[tuple[float, str, str, str, str | None]] = []
        queue = lane.site.bus.subscribe()

        async def record() -> None:
            while True:
                ev = await queue.get()
                if ev.kind == "display":
                    d = ev.data
                    seen.append((lane.clock.monotonic(), d["station"], d["step"], d["signal"], d["plate"]))

        recorder = asyncio.create_task(record())
        try:
            ahead, refused = lane.driver(), lane.driver(problem_index=3)  # 3: an expired SIM
            visits = await lane.run(ahead, refused, gap=30, timeout=120)
        finally:
            recorder.cancel()
        assert sorted(v["outcome"] for v in visits) == ["completed", "refused"]
        hold = lane.ctl.settings.timing.display_hold_seconds
        assert hold == 8.0  # the default
        window_1 = [s for s in seen if s[1] == "window-1"]
        i = next(i for i, s in enumerate(window_1) if s[2] == "refused" and s[3] == "red")
        shown_at, plate = window_1[i][0], window_1[i][4]
        after = window_1[i + 1]
        assert after[4] == plate and after[2] == "wait"  # then it waited for the way out...
        # ... but only once the refusal had been read (the recorder reads the clock a little late)
        assert after[0] - shown_at >= hold - 2.0
        sent_on = next(s for s in window_1[i + 1:] if s[3] == "green")
        assert sent_on[2] == "refused" and sent_on[4] == plate  # green: the refused car leaves
        # the first car's receipt stayed until it was sent on to window 2 (green: never held back)
        j = next(j for j, s in enumerate(window_1) if s[2] == "receipt")
        assert window_1[j + 1][2:4] == ("to_window_2", "green") and window_1[j + 1][4] == window_1[j][4]

