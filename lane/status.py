"""What a driver's status page says (``/s/<token>``, the QR on the receipt): the stage in plain
words, the place in the queue, and when the new card should be in hand, live, in the driver's language.

Nothing personal: no NIK, no name, the plate masked to what its owner recognises. The token is made
with the visit (unguessable, :func:`new_token`) and the page answers until ``status_link_minutes``
after the visit ended. Expected times come from the lane itself: the median of each stage over its
recent visits (the budgets before there are any) and the road queue's headway.
"""

from __future__ import annotations

import re
import secrets
import statistics
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from lane.i18n import N_, format_clock, gettext, stage_word
from lane.persistence.models import VisitRow
from lane.settings import Settings
from lane.visit import Visit
from lane.workflow import BEFORE_ENTRY, DECLINED, STAGE_ORDER, Stage

if TYPE_CHECKING:
    from lane.controller import LaneController

TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,32}$")
CARD_STAGES = tuple(s for s in STAGE_ORDER if STAGE_ORDER.index(s) <= STAGE_ORDER.index(Stage.PRINTING))
"""The stages before the card is in the officer's hand (hand-over is the moment it reaches the driver)."""
RECENT = 20


def new_token() -> str:
    """128 random bits, URL-safe (22 characters): not guessable, not derived from the visit."""
    return secrets.token_urlsafe(16)


def status_url(settings: Settings, token: str) -> str:
    """The page's full address for the QR: the site's public address, else this console's."""
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    return f"{base.rstrip('/')}/s/{token}"


def mask_plate(plate: str | None) -> str | None:
    """``G 1234 ABC`` -> ``G ••34 ABC``: enough for the owner to recognise, not to read off."""
    if not plate:
        return None
    m = re.fullmatch(r"([A-Z]{1,2})(\d{1,4})([A-Z]{0,3})", plate.replace(" ", "").upper())
    if not m:
        return "•" * max(0, len(plate) - 2) + plate[-2:]
    region, digits, suffix = m.groups()
    shown = "•" * max(0, len(digits) - 2) + digits[-2:]
    return " ".join(p for p in (region, shown, suffix) if p)


def typical_seconds(lane: LaneController) -> dict[str, float]:
    """Each stage's median over the lane's recent completed visits (its budget where fewer than 3)."""
    recent = [v for v in lane.finished[-RECENT * 3:] if v.get("outcome") == "completed"][-RECENT:]
    budgets = lane.settings.timing.budgets
    out: dict[str, float] = {}
    for stage in STAGE_ORDER:
        xs = [float(v["stages"][stage.value]) for v in recent if stage.value in v.get("stages", {})]
        out[stage.value] = statistics.median(xs) if len(xs) >= 3 else float(budgets.get(stage.value, 60.0))
    return out


def _texts(lang: str, stage: str, *, held: bool, outcome: str | None, reason: str | None = None) -> dict[str, str]:
    if outcome == "completed":
        note = N_("Your new SIM has been handed over. Thank you, drive safely.")
    elif outcome == "refused":
        note = N_("The renewal could not be done here: please read the referral slip you were given.")
    elif outcome == "aborted" and reason == DECLINED:
        note = N_("You did not confirm your data or the fee: nothing was charged.")
    elif outcome == "aborted":
        note = N_("The service was stopped by the officer: please ask the officer.")
    elif held:
        note = N_("Please wait, an officer will help you.")
    elif stage in ("queued", "arriving"):
        note = N_("Please wait for the green light at the entry.")
    elif stage == "handing_over":
        note = N_("Your card is ready: the officer at window 3 hands it over.")
    else:
        note = N_("Please follow the signs at the windows.")
    return {"stage_text": stage_word(lang, stage), "note": gettext(lang, note)}


def live_status(lane: LaneController, visit: Visit, lang: str) -> dict[str, Any]:
    """An open visit's status now."""
    s = visit.state
    now = lane.clock.monotonic()
    ahead = [v for v in lane.visits.values() if v.state.seq < s.seq and not v.state.finished]
    waiting = lane.queue.waiting()
    position = next((i for i, v in enumerate(waiting) if v.id == visit.id), None)
    typical = typical_seconds(lane)
    stage = s.stage
    to_card: float | None
    if stage in CARD_STAGES:
        rest = [st for st in CARD_STAGES if STAGE_ORDER.index(st) > STAGE_ORDER.index(stage)]
        if stage in BEFORE_ENTRY:
            current = lane.queue.expected_wait(position or 0)
        else:
            current = max(0.0, typical[stage.value] - s.stage_elapsed(now))
        to_card = round(current + sum(typical[st.value] for st in rest if st not in BEFORE_ENTRY))
    else:
        to_card = 0.0 if stage is Stage.HANDING_OVER else None
    at = lane.clock.now() + timedelta(seconds=to_card) if to_card is not None else None
    tz = lane.settings.timezone
    return {
        "lane": lane.name, "plate": mask_plate(s.plate), "stage": stage.value, "held": bool(s.held),
        "finished": False, "outcome": None, "queue_position": position + 1 if position is not None else None,
        "cars_ahead": len(ahead), "expected_seconds_to_card": to_card,
        "expected_card_at": format_clock(_local(at, tz)) if at is not None else None,
        "updated_at": format_clock(_local(lane.clock.now(), tz)),
        **_texts(lang, stage.value, held=bool(s.held), outcome=None),
    }


def ended_status(row: VisitRow, settings: Settings, lang: str, now: datetime) -> dict[str, Any]:
    """A visit that has left the lane (or that this process no longer drives)."""
    finished = row.outcome is not None
    return {
        "lane": row.lane, "plate": mask_plate(row.plate), "stage": row.stage if not finished else "done",
        "held": bool(row.held), "finished": finished, "outcome": row.outcome, "queue_position": None,
        "cars_ahead": None, "expected_seconds_to_card": None, "expected_card_at": None,
        "updated_at": format_clock(_local(now, settings.timezone)),
        **_texts(lang, row.stage if not finished else "done", held=bool(row.held), outcome=row.outcome,
                 reason=row.reason),
    }


def expired(row: VisitRow, settings: Settings, now: datetime) -> bool:
    """The page stops answering ``status_link_minutes`` after the visit ended."""
    if row.ended_at is None:
        return False
    ended = row.ended_at if row.ended_at.tzinfo else row.ended_at.replace(tzinfo=now.tzinfo)
    return now > ended + timedelta(minutes=settings.status_link_minutes)


def _local(at: datetime, tz: str) -> datetime:
    from zoneinfo import ZoneInfo

    return at.astimezone(ZoneInfo(tz))
