"""What every standalone simulator (``lajur sim NAME``) shares: running until Ctrl-C / SIGTERM,
:func:`simulator_main` for the MQTT ones, and run-time fault control for the serial and HTTP ones.

MQTT simulators take faults on their ``control`` topic (:class:`devices.mqtt_device.MqttDeviceSimulator`).
Serial simulators have no broker of their own, so :class:`FaultControl` gives them one of:

* with ``--mqtt URL``: the same control topic ``lajur/<site>/<lane>/<device>/control`` taking
  ``{"v":1,"fault":NAME,"active":true|false}``, answered on ``…/control/ack``;
* otherwise: lines on stdin — ``fault ribbon_out on``, ``fault ribbon_out off``, ``clear``, ``faults``,
  ``help``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from devices import mqtt_codec as codec
from devices.mqtt_codec import Topics
from devices.mqtt_device import MqttDeviceSimulator, simulator_client
from devices.transport.mqtt import MqttClient
from lane.errors import ProtocolError

log = logging.getLogger(__name__)

STDIN_HELP = "commands: fault NAME on|off, clear, faults, help"


async def wait_until_stopped() -> None:
    """Return on SIGINT or SIGTERM, so the simulator can announce itself offline and clean up."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def add_control_arguments(parser: object, device: str) -> None:
    """``--mqtt URL --site --lane --device``: where a serial simulator's control topic lives."""
    add = parser.add_argument  # type: ignore[attr-defined]
    add("--mqtt", "--url", dest="mqtt", metavar="URL", default=None,
        help="broker for run-time fault control on lajur/<site>/<lane>/<device>/control "
             "(without it: type 'fault NAME on|off' on stdin)")
    add("--site", default="dev", help="site in the control topic (default %(default)s)")
    add("--lane", default="lane-1", help="lane in the control topic (default %(default)s)")
    add("--device", default=device, help="device in the control topic (default %(default)s)")


class FaultControl:
    """Inject/clear faults of one serial simulator at run time, from MQTT or stdin."""

    def __init__(self, name: str, faults: Iterable[str], inject: Callable[[str], None],
                 clear: Callable[[str], None], active: Callable[[], Iterable[str]]) -> None:
        self.name = name
        self.faults = frozenset(faults)
        self._inject = inject
        self._clear = clear
        self._active = active
        self.client: MqttClient | None = None
        self.topics: Topics | None = None
        self._remove: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.extra: Callable[[list[str]], str | None] | None = None
        """More stdin commands (e.g. the gate's loops): returns the answer, or None if not its own."""

    def apply(self, fault: str, active: bool) -> str | None:
        """Set one fault; returns an error text for an unknown fault."""
        if fault not in self.faults:
            return f"unknown fault {fault!r}; known: {', '.join(sorted(self.faults))}"
        (self._inject if active else self._clear)(fault)
        log.info("%s: fault %s %s", self.name, fault, "on" if active else "off")
        return None

    def active(self) -> list[str]:
        return sorted(self._active())

    # ------------------------------------------------------------------ MQTT
    async def start_mqtt(self, url: str, topics: Topics) -> str:
        """Listen on ``topics.control``; returns the topic."""
        self.topics = topics
        self.client = MqttClient(url, f"sim-{topics.site}-{topics.lane}-{topics.device}-control", clean_session=True)
        self._remove = self.client.subscribe(topics.control, self._on_control)
        await self.client.start()
        return topics.control

    async def _on_control(self, topic: str, payload: bytes, retained: bool) -> None:
        assert self.client is not None and self.topics is not None
        if retained:
            return
        try:
            fault, active = codec.decode_control(payload)
        except ProtocolError as exc:
            log.warning("%s: bad control message %r: %s", self.name, payload[:120], exc)
            return
        error = self.apply(fault, active)
        reply = {"fault": fault, "active": active, "ok": error is None, "error": error, "faults": self.active()}
        await self.client.publish(self.topics.control_ack, codec.encode(reply), qos=1)

    # ------------------------------------------------------------------ stdin
    def start_stdin(self) -> None:
        """Read control lines from stdin on a daemon thread (never blocks shutdown)."""
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._read_stdin, name=f"{self.name}-stdin", daemon=True).start()

    def _read_stdin(self) -> None:
        for line in sys.stdin:
            loop = self._loop
            if loop is None or loop.is_closed():
                return
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self.handle_line, line)

    def handle_line(self, line: str) -> str:
        """One stdin command; prints and returns the answer."""
        words = line.split()
        answer: str
        if not words:
            return ""
        extra = self.extra(words) if self.extra is not None else None
        if extra is not None:
            answer = extra
        elif words[0] == "fault" and len(words) == 3 and words[2] in ("on", "off"):
            error = self.apply(words[1], words[2] == "on")
            answer = error or f"faults: {', '.join(self.active()) or 'none'}"
        elif words[0] == "clear":
            for fault in self.active():
                if fault in self.faults:
                    self._clear(fault)
            answer = f"faults: {', '.join(self.active()) or 'none'}"
        elif words[0] == "faults":
            answer = f"faults: {', '.join(self.active()) or 'none'} (known: {', '.join(sorted(self.faults))})"
        else:
            answer = STDIN_HELP
        print(answer, flush=True)
        return answer

    async def stop(self) -> None:
        self._loop = None
        if self._remove is not None:
            self._remove()
            self._remove = None
        if self.client is not None:
            await self.client.stop()
            self.client = None


async def start_control(control: FaultControl, args: object) -> None:
    """MQTT control when ``args.mqtt`` is set, else stdin; prints where to send faults."""
    url = getattr(args, "mqtt", None)
    if url:
        topics = Topics(args.site, args.lane, args.device)  # type: ignore[attr-defined]
        topic = await control.start_mqtt(url, topics)
        print(f"  control {topic} on {url}  (faults: {', '.join(sorted(control.faults))})", flush=True)
    else:
        control.start_stdin()
        print(f"  control on stdin: {STDIN_HELP}  (faults: {', '.join(sorted(control.faults))})", flush=True)


def serve_stdin_faults(name: str, faults: Iterable[str], set_fault: Callable[[str | None], None]) -> None:
    """For the HTTP simulators (one fault at a time): read ``fault NAME on|off`` lines from stdin until
    Ctrl-C; ``set_fault(None)`` clears. Blocks; when stdin ends, keeps serving until Ctrl-C."""
    import time

    known = sorted(set(faults) - {"none"})
    current: list[str] = []
    print(f"  control on stdin: fault NAME on|off, clear  (faults: {', '.join(known)})", flush=True)
    for line in sys.stdin:
        words = line.split()
        if len(words) == 3 and words[0] == "fault" and words[2] in ("on", "off"):
            if words[1] not in known:
                print(f"unknown fault {words[1]!r}; known: {', '.join(known)}", flush=True)
                continue
            on = words[2] == "on"
            set_fault(words[1] if on else None)
            current[:] = [words[1]] if on else []
        elif words[:1] == ["clear"]:
            set_fault(None)
            current.clear()
        elif words:
            print("commands: fault NAME on|off, clear", flush=True)
            continue
        else:
            continue
        log.info("%s: fault %s", name, current[0] if current else "none")
        print(f"faults: {', '.join(current) or 'none'}", flush=True)
    while True:
        time.sleep(3600)


def simulator_main(
    sim_cls: type[MqttDeviceSimulator],
    device: str,
    argv: list[str] | None = None,
    setup: Callable[[Any], None] | None = None,
    *,
    prog: str | None = None,
) -> int:
    """Run one simulator standalone against a given broker, for technicians on site.

    Prints the broker and topics, then serves until Ctrl-C. ``--fault NAME`` (repeatable) starts
    with a fault; at run time publish ``{"v":1,"fault":NAME,"active":true|false}`` to the printed
    control topic.
    """
    import argparse

    from lane.clock import ScaledClock

    faults = sorted(sim_cls.faults_supported)
    parser = argparse.ArgumentParser(
        prog=prog or f"lajur sim {device}", description=f"Lajur {device} simulator (MQTT).",
        epilog=f"faults: {', '.join(faults)}. At run time: mosquitto_pub -t <control topic> "
               "-m '{\"v\":1,\"fault\":\"NAME\",\"active\":true}'",
    )
    parser.add_argument("--url", "--mqtt", dest="url", default="mqtt://127.0.0.1:1883", help="broker URL")
    parser.add_argument("--site", default="dev")
    parser.add_argument("--lane", default="lane-1")
    parser.add_argument("--device", default=device, help="device name in the topics (default %(default)s)")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated time speed-up")
    parser.add_argument("--fault", action="append", default=[], choices=faults, help="start with this fault")
    args = parser.parse_args(argv)

    async def run() -> None:
        topics = Topics(args.site, args.lane, args.device)
        client = simulator_client(args.url, topics)
        sim = sim_cls(client, topics, clock=ScaledClock(args.speed), lane=args.lane)
        if setup is not None:
            setup(sim)
        await client.start()
        for fault in args.fault:
            await sim.set_fault(fault, True)
        await sim.start()
        print(f"{args.device} simulator on {args.url} at {topics.root}/#", flush=True)
        print(f"  cmd {topics.cmd}  state {topics.state}  event {topics.event}", flush=True)
        print(f"  control {topics.control}  (faults: {', '.join(faults)})", flush=True)
        try:
            await wait_until_stopped()
        finally:
            await sim.stop()
            await client.stop()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    return 0
