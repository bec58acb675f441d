"""What a lane does with a device message its driver refused (:class:`lane.ports.MessageRefused`):
nothing was believed and nothing is lost (the driver goes on waiting for the real answer); the lane
counts it per device and reason and tells the console.

A forged payment, a replayed card or an ack for a command never sent is someone on the device
network, or a device gone wrong: the officer sees an alert naming the device, the reason and how many
so far, never the message's content (it may hold a NIK). A flood is one alert at the 1st, 10th,
100th… refusal per device and reason, not one per message: a hostile client cannot fill the alerts
table or the console.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING

from lane.alerts import AlertFacts
from lane.ports import MessageRefused

if TYPE_CHECKING:
    from lane.controller import LaneController

log = logging.getLogger(__name__)

UNSOLICITED = "unsolicited"
"""Nothing was asked: bytes between exchanges, an event no command is waiting for."""
NOT_OUTSTANDING = "not_outstanding"
"""Names a command that is not (or no longer) outstanding: a late, duplicate or forged answer."""
WRONG_ANSWER = "wrong_answer"
"""Answers the outstanding command with the wrong kind of reply (an ACK of another command…)."""
WRONG_AMOUNT = "wrong_amount"
WRONG_JOB = "wrong_job"
MALFORMED = "malformed"
RETAINED = "retained"
"""An ack or event published retained: a replay waiting on the broker for every new subscriber."""
WRONG_TOPIC = "wrong_topic"

FORGERY_SIGNS = frozenset({UNSOLICITED, NOT_OUTSTANDING, WRONG_AMOUNT, WRONG_JOB, WRONG_ANSWER, RETAINED,
                           WRONG_TOPIC})
"""Reasons that mean a message claimed to answer something the lane never asked (critical); the
rest (a malformed payload) is more likely a device's own fault (warning)."""


def worth_a_warning(count: int) -> bool:
    """1, 10, 100, 1000…: a babbling or hostile device is visible without flooding the log, the
    alerts or the console (the drivers' logs use it too)."""
    while count % 10 == 0:
        count //= 10
    return count == 1


class RefusedMessages:
    """One lane's count of refused device messages, by (device, reason); raises the alerts."""

    def __init__(self, lane: LaneController) -> None:
        self.lane = lane
        self.counts: Counter[tuple[str, str]] = Counter()

    def __call__(self, event: object) -> None:
        """A device listener: acts on MessageRefused, ignores every other event."""
        if isinstance(event, MessageRefused):
            self.refused(event)

    def refused(self, event: MessageRefused) -> None:
        key = (event.device, event.reason)
        self.counts[key] += 1
        n = self.counts[key]
        if not worth_a_warning(n):
            return
        lane = self.lane
        detail = f" ({event.detail})" if event.detail else ""
        level = "critical" if event.reason in FORGERY_SIGNS else "warning"
        cause = f"{event.device}: {event.reason}"
        lane.records.clear_alert("message_refused", cause=cause)  # the new count supersedes the last alert's
        lane.records.alert("message_refused", f"{event.device}: refused a message: {event.reason}{detail}; "
                           f"{n} refused from it for this reason so far", level=level, cause=cause,
                           facts=AlertFacts(device=event.device, reason=event.reason, count=n))
        lane.store.device_event(lane.name, event.device, "message_refused",
                                {"reason": event.reason, "detail": event.detail, "count": n})
