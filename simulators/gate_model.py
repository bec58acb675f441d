"""The simulated barrier gate's boom, motor and two loops, whatever the wire.

:class:`GateModel` knows nothing of wires: the RS-485 front-end (``simulators/gate.py``) and the MQTT
front-end (``simulators/mqtt_gate.py``) drive the same boom. The ledger records what the boom
physically did (``gate_opened`` / ``gate_closed`` with both loops): the ground truth for "never closed
on a vehicle".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from devices.gate import codec
from lane.clock import Clock, SystemClock
from lane.errors import GateSafetyError
from lane.ports import PASSAGE_MODULUS, GatePosition, GateStatus
from simulators.ledger import Ledger

log = logging.getLogger(__name__)

BOOM_FAULTS = frozenset({"stuck", "slow", "loop_stuck"})
"""What can go wrong with the boom and its loops, whatever the wire: the model plays these."""
SLOW_FACTOR = 3.0


class GateModel:
    """The boom, its motor and its two loops, timed on an injected clock.

    Behaves like a real gate where it matters for safety: it refuses to close while the safety loop
    is occupied, and reverses to opening if the safety loop becomes occupied while it is closing.
    """

    def __init__(
        self,
        name: str = "entry-gate",
        lane: str = "lane-1",
        clock: Clock | None = None,
        open_seconds: float = 2.0,
        close_seconds: float = 2.0,
        ledger: Ledger | None = None,
        counts_passages: bool = True,
    ) -> None:
        self.name = name
        self.counts_passages = counts_passages
        """The controller counts vehicles clearing its safety loop (reported with the status); False plays
        an older controller without the counter."""
        self.passages = 0
        self.lane = lane
        self.clock: Clock = clock or SystemClock()
        self.open_seconds = open_seconds
        self.close_seconds = close_seconds
        self.ledger = ledger
        self.auto_close_seconds = 0
        self.injected: set[str] = set()
        """Boom faults in play (:data:`BOOM_FAULTS`), set by the front-end's ``inject``."""
        self._position = GatePosition.CLOSED
        self._halted = False
        self._presence = False
        self._safety = False
        self._reported: set[str] = set()
        self._motion: asyncio.Task[None] | None = None
        self._motion_started = 0.0
        self._motion_duration = 0.0
        self._auto_close: asyncio.Task[None] | None = None
        self._rest_position = GatePosition.CLOSED
        self._listeners: list[Callable[[GateStatus], None]] = []
        self._last_status = self.status

    # ------------------------------------------------------------------ state
    @property
    def position(self) -> GatePosition:
        return self._position

    @property
    def halted(self) -> bool:
        """True when a stop command left the boom between its end positions."""
        return self._halted

    @property
    def safety_occupied(self) -> bool:
        return self._safety or "loop_stuck" in self.injected

    @property
    def status(self) -> GateStatus:
        position = GatePosition.UNKNOWN if self._halted else self._position
        return GateStatus(
            position=position,
            presence_loop=self._presence,
            safety_loop=self.safety_occupied,
            faults=frozenset(self._reported),
            online=True,
            passages=self.passages % PASSAGE_MODULUS if self.counts_passages else None,
        )

    def wire_position(self) -> codec.WirePosition:
        if self._halted:
            return codec.WirePosition.HALTED
        return codec.WirePosition[self._position.name]

    def add_listener(self, listener: Callable[[GateStatus], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # ------------------------------------------------------------------ commands
    def command_open(self) -> None:
        if self._position in (GatePosition.OPEN, GatePosition.OPENING) and not self._halted:
            return
        self._cancel_auto_close()
        if self._begin_stuck_check():
            return
        fraction = self._travelled_fraction(GatePosition.CLOSING) if self._position is GatePosition.CLOSING else 1.0
        self._move(GatePosition.OPENING, GatePosition.OPEN, self.open_seconds * fraction)

    def command_close(self) -> None:
        if self.safety_occupied:
            raise GateSafetyError(self.name, "close refused: safety loop occupied", fault="safety_loop_occupied")
        if self._position in (GatePosition.CLOSED, GatePosition.CLOSING) and not self._halted:
            return
        self._cancel_auto_close()
        if self._begin_stuck_check():
            return
        self._move(GatePosition.CLOSING, GatePosition.CLOSED, self.close_seconds)

    def command_stop(self) -> None:
        self._cancel_auto_close()
        if self._motion is not None and not self._motion.done():
            self._cancel_motion()
            self._halted = True
            self._changed()

    def set_auto_close(self, seconds: int) -> None:
        self.auto_close_seconds = max(0, int(seconds))
        if self.auto_close_seconds == 0:
            self._cancel_auto_close()
        elif self._position is GatePosition.OPEN and not self._halted:
            self._schedule_auto_close()

    # ------------------------------------------------------------------ loops (traffic simulator)
    def set_presence(self, occupied: bool) -> None:
        self._presence = occupied
        self._changed()

    def set_safety(self, occupied: bool) -> None:
        if self._safety and not occupied:
            self.passages += 1  # a vehicle cleared the loop under the boom
        self._safety = occupied
        if occupied and self._position is GatePosition.CLOSING and self._motion is not None:
            log.info("%s: safety loop occupied while closing: reversing", self.name)
            self._reverse()
        self._changed()

    # ------------------------------------------------------------------ faults
    def apply_fault(self, name: str, active: bool) -> None:
        """Start or end a boom fault; technicians and tests go through the front-end's ``inject``."""
        if name not in BOOM_FAULTS:
            raise ValueError(f"{name!r} is not a boom fault ({', '.join(sorted(BOOM_FAULTS))})")
        if active:
            self._start_fault(name)
        else:
            self._end_fault(name)

    def _start_fault(self, name: str) -> None:
        self.injected.add(name)
        if name == "loop_stuck":
            self._reported.add("loop_fault")
            if self._position is GatePosition.CLOSING:
                self._reverse()
        if name == "stuck" and self._motion is not None and not self._motion.done():
            self._cancel_motion()
            self._fault("stuck")
        self._changed()

    def _end_fault(self, name: str) -> None:
        self.injected.discard(name)
        if name == "loop_stuck":
            self._reported.discard("loop_fault")
        if name == "stuck":
            self._reported.discard("stuck")
            if self._position is GatePosition.FAULT:
                self._position = self._rest_position
        self._changed()

    async def aclose(self) -> None:
        """Cancel running motion/auto-close tasks (end of a test or a run)."""
        for task in (self._motion, self._auto_close):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # ------------------------------------------------------------------ internals
    def _move(self, moving: GatePosition, target: GatePosition, seconds: float) -> None:
        self._cancel_motion()
        self._halted = False
        if "slow" in self.injected:
            seconds *= SLOW_FACTOR
        self._position = moving
        self._motion_started = self.clock.monotonic()
        self._motion_duration = seconds
        self._motion = asyncio.get_running_loop().create_task(self._travel(target, seconds))
        self._changed()

    async def _travel(self, target: GatePosition, seconds: float) -> None:
        await self.clock.sleep(seconds)
        self._motion = None
        self._position = target
        self._rest_position = target
        effect = "gate_opened" if target is GatePosition.OPEN else "gate_closed"
        if self.ledger is not None:
            self.ledger.record(
                self.lane, self.name, effect,
                safety_loop_occupied=self.safety_occupied, presence_loop_occupied=self._presence,
            )
        self._changed()
        if target is GatePosition.OPEN and self.auto_close_seconds:
            self._schedule_auto_close()

    def _travelled_fraction(self, moving: GatePosition) -> float:
        if self._motion is None or self._position is not moving or self._motion_duration <= 0:
            return 1.0
        elapsed = self.clock.monotonic() - self._motion_started
        return min(1.0, max(0.05, elapsed / self._motion_duration))

    def _reverse(self) -> None:
        fraction = self._travelled_fraction(GatePosition.CLOSING)
        self._move(GatePosition.OPENING, GatePosition.OPEN, self.open_seconds * fraction)

    def _begin_stuck_check(self) -> bool:
        """A stuck boom does not move; the controller board notices after one travel time."""
        if "stuck" not in self.injected:
            return False
        self._cancel_motion()

        async def detect() -> None:
            await self.clock.sleep(max(self.open_seconds, self.close_seconds))
            self._motion = None
            self._fault("stuck")

        self._motion = asyncio.get_running_loop().create_task(detect())
        return True

    def _fault(self, name: str) -> None:
        self._reported.add(name)
        self._position = GatePosition.FAULT
        self._halted = False
        self._changed()

    def _cancel_motion(self) -> None:
        task, self._motion = self._motion, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    def _schedule_auto_close(self) -> None:
        self._cancel_auto_close()

        async def auto_close() -> None:
            await self.clock.sleep(self.auto_close_seconds)
            while self.safety_occupied:  # a real gate waits for the vehicle to clear the boom
                await self.clock.sleep(0.1)
            self._auto_close = None
            if self._position is GatePosition.OPEN:
                self.command_close()

        self._auto_close = asyncio.get_running_loop().create_task(auto_close())

    def _cancel_auto_close(self) -> None:
        task, self._auto_close = self._auto_close, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    def _changed(self) -> None:
        status = self.status
        if status == self._last_status:
            return
        self._last_status = status
        for listener in list(self._listeners):
            try:
                listener(status)
            except Exception:
                log.exception("%s: listener failed", self.name)
