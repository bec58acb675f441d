"""A virtual officer at the console, in another process than the controller: it sees the lanes the
way the console does (``GET /api/v1/lanes``) and acts through the API (``POST
/api/v1/visits/{id}/actions``), logged in as a real account. ``lajur sim site --drivers N --api URL``
uses it so that `lajur serve` in another process gets its hand-overs and plate confirmations.

It behaves like a person looking at a screen, which is what makes it survive a controller crash:
while a visit still shows "handing over" (or a plate waiting for confirmation) it presses the button
again after a while; a refused or failed press (controller restarting, 409, connection refused) is
simply tried again on the next look. Credentials: the ``sim_officer_user`` / ``sim_officer_password``
settings (``LAJUR_SIM_OFFICER_USER`` / ``LAJUR_SIM_OFFICER_PASSWORD``; an account made with ``lajur user
add --role officer`` on the controller's database), given by the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Collection
from typing import Any

import httpx

from lane.clock import Clock

log = logging.getLogger(__name__)

PlateLookup = Callable[[str], str | None]


class ConsoleOfficer:
    def __init__(self, api_url: str, clock: Clock, *, plate_at_entry: PlateLookup, username: str = "sim-officer",
                 password: str = "", handover_seconds: float = 20.0, repeat_seconds: float = 3.0,
                 poll_seconds: float = 0.2, seed: int = 7, lanes: Collection[str] | None = None) -> None:
        self.api_url = api_url.rstrip("/")
        self.clock = clock
        self.plate_at_entry = plate_at_entry
        self.username = username
        self.password = password
        self.handover_seconds = handover_seconds
        self.repeat_seconds = repeat_seconds
        self.poll_seconds = poll_seconds
        self.rng = random.Random(seed)
        self.lanes = frozenset(lanes) if lanes is not None else None
        """The lanes this officer looks after (None: every lane the console shows)."""
        self._token: str | None = None
        self._login_refused = False
        self._due: dict[tuple[str, str], float] = {}
        """(visit id, action) -> clock time at which the officer (next) presses the button."""
        self._task: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None
        self.actions_sent = 0

    def start(self) -> None:
        self._http = httpx.AsyncClient(base_url=self.api_url, timeout=5.0)
        self._task = asyncio.create_task(self._run(), name="console-officer")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._http:
            await self._http.aclose()

    async def _login(self) -> None:
        assert self._http is not None
        r = await self._http.post("/api/v1/auth/login", json={"username": self.username, "password": self.password})
        if r.status_code in (401, 403, 422) and not self._login_refused:
            # wrong or missing credentials never heal on their own: say so once, loudly, not at debug level
            self._login_refused = True
            log.warning("console officer: the console refused the login of %r (%s): no hand-overs or plate "
                        "confirmations will be pressed; set sim_officer_user / sim_officer_password",
                        self.username, r.status_code)
        r.raise_for_status()
        self._login_refused = False
        self._token = r.json()["token"]

    async def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        assert self._http is not None
        if self._token is None:
            await self._login()
        r = await self._http.request(method, path, headers={"Authorization": f"Bearer {self._token}"}, **kw)
        if r.status_code == 401:  # the controller restarted with a new session key: log in again
            self._token = None
            await self._login()
            r = await self._http.request(method, path, headers={"Authorization": f"Bearer {self._token}"}, **kw)
        return r

    async def _run(self) -> None:
        while True:
            try:
                await self._look()
            except asyncio.CancelledError:
                raise
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                log.debug("console officer: %s", exc)
            await asyncio.sleep(self.poll_seconds)

    async def _look(self) -> None:
        r = await self._request("GET", "/api/v1/lanes")
        r.raise_for_status()
        now = self.clock.monotonic()
        wanted: set[tuple[str, str]] = set()
        for lane in r.json():
            if self.lanes is not None and lane["lane"] not in self.lanes:
                continue
            for v in lane["visits"]:
                if v["stage"] == "handing_over":
                    key = (v["id"], "handed_over")
                    delay = self.handover_seconds * self.rng.uniform(0.7, 1.4)
                elif v["stage"] in ("queued", "arriving") and v.get("held") == "plate_unconfirmed":
                    key = (v["id"], "confirm_plate")
                    delay = self.rng.uniform(5, 15)
                else:
                    continue
                wanted.add(key)
                due = self._due.setdefault(key, now + delay)
                if now >= due:
                    self._due[key] = now + self.repeat_seconds
                    await self._press(lane["lane"], *key)
        for key in list(self._due):
            if key not in wanted:
                del self._due[key]

    async def _press(self, lane: str, visit_id: str, action: str) -> None:
        body: dict[str, Any] = {"action": action}
        if action == "confirm_plate":
            plate = self.plate_at_entry(lane)
            if not plate:
                return
            body.update(plate=plate, reason="plate checked by eye")
        r = await self._request("POST", f"/api/v1/visits/{visit_id}/actions", json=body)
        if r.status_code == 200:
            self.actions_sent += 1
        else:
            log.info("console officer: %s on %s -> %s %s", action, visit_id, r.status_code, r.text[:200])

