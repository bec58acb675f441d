"""What the lane forgets, and when (UU 27/2022: personal data kept no longer than their purpose).

- **Biometric captures** leave the station once the visit is over: a visit that reached window 2
  asks the station to delete its photo, fingerprint and signature when it leaves the lane (a card
  handed over needs them no more; a reprint at window 3 still could, so not earlier). The request is
  a side effect recorded first (``biometric_delete``), so a station that is offline, or a controller
  restart, only delays it: :class:`CaptureDeletions` keeps asking until the station acks.
- **Visits' personal data** are erased ``personal_data_days`` after the visit ended
  (:func:`lane.persistence.retention.purge_personal_data`), by :func:`purge_loop` every hour of the
  lane clock in the controller process, and by ``lajur db purge``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from lane.clock import Clock
from lane.errors import DeviceError, PersistenceError
from lane.persistence.retention import purge_personal_data
from lane.persistence.store import Store
from lane.settings import Settings

if TYPE_CHECKING:
    from lane.controller import LaneController

log = logging.getLogger(__name__)

KIND = "biometric_delete"
RETRY_SECONDS = 60.0
"""Simulated seconds between two rounds of asking a station that did not answer."""
PURGE_EVERY = 3600.0
"""Simulated seconds between two purges."""


def deletion_key(visit_id: str) -> str:
    return f"{visit_id}-{KIND}"


class CaptureDeletions:
    """One lane's requests to delete captures from its biometric station, kept until acked."""

    def __init__(self, lane: LaneController) -> None:
        self.lane = lane
        self._unrecorded: set[str] = set()
        """Requests the database could not take yet (recorded at the next round)."""
        self._wake = asyncio.Event()

    def request(self, visit_id: str) -> None:
        """Ask for the deletion of this visit's captures (recorded now, done by :meth:`run`)."""
        lane = self.lane
        try:
            lane.store.intend(deletion_key(visit_id), lane=lane.name, kind=KIND, visit_id=visit_id)
        except PersistenceError:
            self._unrecorded.add(visit_id)
        self._wake.set()

    async def run(self) -> None:
        """For as long as the lane runs: delete what was asked, and ask again later what failed."""
        lane = self.lane
        while True:
            self._wake.clear()
            try:
                await self.round()
            except PersistenceError as exc:
                log.warning("%s: capture deletions wait for the database: %s", lane.name, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), lane.clock.to_wall(RETRY_SECONDS))

    async def round(self) -> int:
        """One pass over the pending deletions; how many the station acked."""
        lane = self.lane
        for visit_id in list(self._unrecorded):
            lane.store.intend(deletion_key(visit_id), lane=lane.name, kind=KIND, visit_id=visit_id)
            self._unrecorded.discard(visit_id)
        done = 0
        for effect in await asyncio.to_thread(lane.store.pending_effects, lane.name, KIND):
            if effect.visit_id is None:
                continue
            try:
                await lane.devices.biometric.delete(effect.visit_id, timeout=lane.settings.timing.device_timeout)
            except DeviceError as exc:
                log.info("%s: the biometric station did not delete %s's captures yet: %s", lane.name,
                         effect.visit_id, exc.message)
                return done  # the station is away or busy: the rest waits for the next round
            lane.store.settle(effect.key, "done")
            done += 1
        return done


def purge_once(store: Store, now: datetime, settings: Settings) -> int:
    """Erase the personal data of visits that ended ``personal_data_days`` before ``now``."""
    return purge_personal_data(store, now - timedelta(days=settings.personal_data_days))


async def purge_loop(store: Store, clock: Clock, settings: Settings) -> None:
    """Purge at start and every ``PURGE_EVERY`` simulated seconds, on the lane clock."""
    while True:
        try:
            n = await asyncio.to_thread(purge_once, store, clock.now(), settings)
            if n:
                log.warning("personal data of %d visits older than %g days erased (anonymised figures kept)",
                            n, settings.personal_data_days)
                store.audit(actor="lajur", role="system", action="purge_personal_data",
                            detail={"visits": n, "days": settings.personal_data_days})
        except PersistenceError as exc:
            log.warning("personal data purge postponed: %s", exc)
        await clock.sleep(PURGE_EVERY)
