"""The store's writer: one thread that runs the store's calls in the order they were made.

Why: a commit waits for the database (0.6 ms on a local PostgreSQL, a disk flush on SQLite, seconds
when the server is restarting). Made on the event loop, that wait stopped every lane of the process,
not only the one writing. Made here, the loop goes on while the database works, and:

- each call runs after every call submitted before it (one thread, first in first out), so a lane's
  writes keep their order, and a read or an intent submitted after a write sees that write;
- a caller that must not act before its state is stored ("persist before acting") awaits the
  future of its call, or of the last call it made (:meth:`Writer.last`); every other lane keeps
  running meanwhile;
- nothing is lost that was not lost before: a call the process had not yet run when it was killed
  had not been awaited either, so nothing in the world was commanded on the strength of it.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, ParamSpec, TypeVar

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

_STOP = object()


class Writer:
    def __init__(self, name: str = "lajur-store-writer") -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._last: Future[Any] | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self.submitted_total = 0
        """Calls ever submitted (a figure for /metrics)."""

    @property
    def on_thread(self) -> bool:
        """True when called from the writer's own thread (a call made there runs at once)."""
        return threading.get_ident() == self._thread.ident

    @property
    def backlog(self) -> int:
        """Calls submitted and not yet run."""
        return self._queue.qsize()

    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        """Run ``fn(*args, **kwargs)`` on the writer's thread after every call submitted before it."""
        fut: Future[T] = Future()
        with self._lock:  # the order of submission is the order of the queue
            if self._stopped:
                raise RuntimeError("the store's writer has stopped")
            self._queue.put((fn, args, kwargs, fut))
            self._last = fut
            self.submitted_total += 1
        return fut

    def last(self) -> Future[Any] | None:
        """The future of the last call submitted, or None when it has run (nothing is pending)."""
        fut = self._last
        return None if fut is None or fut.done() else fut

    def stop(self, timeout: float = 30.0) -> None:
        """Run what was submitted, then end the thread."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._queue.put(_STOP)
        if not self.on_thread:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("the store's writer did not finish within %.0f s (%d calls left)", timeout, self.backlog)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            fn, args, kwargs, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - handed to whoever awaits the call
                fut.set_exception(exc)


def ordered(method: Callable[P, T]) -> Callable[P, T]:
    """A store call that answers (a read, an intent, an audit): with the writer running it runs on
    the writer's thread behind every call made before it, and the caller waits for the answer
    (from the event loop, prefer ``await store.run(store.method, ...)``, which does not block)."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        store = args[0]
        writer = getattr(store, "_writer", None)
        if writer is None or writer.on_thread:
            return method(*args, **kwargs)
        return writer.submit(method, *args, **kwargs).result()

    return wrapper
