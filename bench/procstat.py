"""CPU and memory of another process, sampled from ``/proc`` while it runs (Linux).

``lajur bench load`` samples the controller every half second during the run: the mean and the
busiest interval's CPU, and the largest resident set seen (plus the kernel's own high-water mark,
``VmHWM``, which also covers start-up).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used so far."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15 of stat(5))


def memory_mb(pid: int) -> dict[str, float]:
    """``VmRSS`` (now) and ``VmHWM`` (peak so far) of ``pid``, in MiB."""
    out: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    return out


@dataclass
class ProcessSampler:
    """Samples one process every ``interval`` wall seconds between :meth:`start` and :meth:`stop`."""

    pid: int
    interval: float = 0.5
    cpu_percent: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    hwm_mb: float = 0.0
    _task: asyncio.Task[None] | None = None
    _t0: float = 0.0
    _cpu0: float = 0.0
    _t1: float = 0.0
    _cpu1: float = 0.0

    def start(self) -> None:
        self._t0, self._cpu0 = time.perf_counter(), cpu_seconds(self.pid)
        self._t1, self._cpu1 = self._t0, self._cpu0
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.sample()

    def sample(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):  # the process may have just ended
            t, cpu = time.perf_counter(), cpu_seconds(self.pid)
            self.cpu_percent.append(100.0 * (cpu - self._cpu1) / max(1e-9, t - self._t1))
            self._t1, self._cpu1 = t, cpu
            mem = memory_mb(self.pid)
            self.rss_mb.append(mem.get("VmRSS", 0.0))
            self.hwm_mb = max(self.hwm_mb, mem.get("VmHWM", 0.0))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.sample()

    def figures(self) -> dict[str, float]:
        """Mean CPU (% of one core) over the whole span, the busiest interval, the peak RSS sampled."""
        span = max(1e-9, self._t1 - self._t0)
        return {"cpu_percent": round(100.0 * (self._cpu1 - self._cpu0) / span, 1),
                "cpu_percent_peak": round(max(self.cpu_percent, default=0.0), 1),
                "rss_mb": round(max(self.rss_mb, default=0.0), 1),
                "rss_mb_high_water": round(self.hwm_mb, 1),
                "samples": len(self.cpu_percent)}
