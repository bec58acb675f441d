"""The ledger: JSON lines of physical effects as the simulated devices saw them.

It is the ground truth for the invariants "no second card, no second charge, never closed on a
vehicle": the controller may believe anything, the ledger records what the hardware did.
Format (one object a line): ``{"ts", "lane", "device", "effect", ...fields}``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class Ledger:
    """Append-only, thread-safe; keeps lines in memory too so tests can read them back."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self.entries: list[dict[str, Any]] = []
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def record(self, lane: str, device: str, effect: str, **fields: Any) -> dict[str, Any]:
        entry = {"ts": datetime.now(UTC).isoformat(), "lane": lane, "device": device, "effect": effect, **fields}
        line = json.dumps(entry, default=str)
        with self._lock:
            self.entries.append(entry)
            if self.path:
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
                    fh.flush()
        for listener in list(self._listeners):
            listener(entry)
        return entry

    def add_listener(self, listener: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """``listener(entry)`` right after each effect is recorded, in the recording thread: the moment a
        device saw it, for whoever times what follows (``lajur bench load``). Returns its remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def effects(self, effect: str | None = None, lane: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                e for e in self.entries
                if (effect is None or e["effect"] == effect) and (lane is None or e["lane"] == lane)
            ]

    @staticmethod
    def read(path: str | Path) -> list[dict[str, Any]]:
        p = Path(path)
        if not p.exists():
            return []
        return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
