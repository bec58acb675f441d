"""Small asyncio helpers shared by the controller and the simulators."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)


async def cancel_all(tasks: Iterable[asyncio.Task[Any] | None], timeout: float = 5.0) -> None:
    """Cancel tasks and wait for them, bounded: shutdown must never hang on one stuck task."""
    live = [t for t in tasks if t is not None and not t.done()]
    for t in live:
        t.cancel()
    if live:
        _, pending = await asyncio.wait(live, timeout=timeout)
        for t in pending:
            log.error("task %s did not stop within %.0f s", t.get_name(), timeout)
