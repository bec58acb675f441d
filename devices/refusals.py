"""What a driver does with a device message it does not believe: refuse it, count it, tell the lane.

Every driver (MQTT or serial) believes a device only within what it asked for. Whatever falls
outside — an answer to a command nobody sent, a payment for another amount, bytes on a polled line
between exchanges, a malformed or wrongly retained message — is handed to :meth:`Refusals.refuse`,
which counts it by reason, logs it without its content, and gives the device's listeners a
:class:`lane.ports.MessageRefused` so the controller can raise an alert.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from lane.ports import MessageRefused
from lane.refusals import (  # the reason codes are the lane's contract with every driver
    MALFORMED,
    NOT_OUTSTANDING,
    RETAINED,
    UNSOLICITED,
    WRONG_AMOUNT,
    WRONG_ANSWER,
    WRONG_JOB,
    WRONG_TOPIC,
    worth_a_warning,
)

log = logging.getLogger(__name__)

__all__ = ["MALFORMED", "NOT_OUTSTANDING", "RETAINED", "UNSOLICITED", "WRONG_AMOUNT", "WRONG_ANSWER", "WRONG_JOB",
           "WRONG_TOPIC", "Refusals", "worth_a_warning"]
class Refusals:
    """Counts one driver's refused messages by reason and reports each to ``notify``."""

    def __init__(self, device: str, notify: Callable[[MessageRefused], None]) -> None:
        self.device = device
        self.by_reason: Counter[str] = Counter()
        self.total = 0
        self._notify = notify

    def refuse(self, reason: str, detail: str = "", *, logged: bool = False) -> MessageRefused:
        """Count and report one refused message. ``detail`` must hold no personal data; ``logged``:
        the caller logged it already (malformed payloads)."""
        self.total += 1
        self.by_reason[reason] += 1
        if not logged:
            level = logging.WARNING if worth_a_warning(self.by_reason[reason]) else logging.DEBUG
            log.log(level, "%s: refused a message (%s%s), %d refused so far",
                    self.device, reason, f": {detail}" if detail else "", self.total)
        refused = MessageRefused(self.device, reason, detail, self.total)
        self._notify(refused)
        return refused
