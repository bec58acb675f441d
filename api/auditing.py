"""What the API itself writes to the audit log (alert acknowledgements, device tests, fault
injection, account changes, logins) and announces on the live feed. Officer actions on visits and
gates are audited by the lane (``lane.actions``), before they take effect."""

from __future__ import annotations

from typing import Any

from api.auth import Principal
from lane.controller import LaneController
from lane.events import LaneEvent
from lane.persistence import Store


def audit(store: Store, who: Principal, action: str, *, lane: str | None = None, visit_id: str | None = None,
          reason: str | None = None, **detail: Any) -> None:
    store.audit(actor=who.username, role=who.role, action=action, lane=lane, visit_id=visit_id, reason=reason,
                detail=detail)


def announce(ctl: LaneController, who: Principal, action: str, reason: str | None, **extra: Any) -> None:
    """Tell the consoles (their audit panes reload) that ``who`` did ``action`` on this lane."""
    ctl.bus.publish(LaneEvent(ctl.name, "audit", {"actor": who.username, "action": action, "visit_id": None,
                                                  "reason": reason, **extra}))
