"""What every standalone simulator (``lajur sim NAME``) shares: running until Ctrl-C / SIGTERM,
:func:`simulator_main` for the MQTT ones, and run-time fault control for the serial and HTTP ones.

Every simulator takes faults through :class:`simulators.faults.FaultInjectable`. MQTT simulators also
listen on their ``control`` topic (:class:`simulators.mqtt_device.MqttDeviceSimulator`). Serial and
HTTP simulators have no broker of their own, so :class:`FaultControl` gives them one of:

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
from collections.abc import Callable
from typing import Any

from devices import mqtt_codec as codec
from devices.mqtt_access import device_username
from devices.mqtt_codec import Topics
from devices.mqtt_secrets import CredentialsDir
from devices.transport.mqtt import MqttClient, MqttLogin
from lane.errors import ConfigError, ProtocolError
from simulators.faults import FaultInjectable, UnknownFault, apply_control, clear_all
from simulators.mqtt_device import MqttDeviceSimulator, simulator_client

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
    add_credentials_argument(parser)


def add_credentials_argument(parser: object) -> None:
    parser.add_argument(  # type: ignore[attr-defined]
        "--credentials", metavar="DIR", default=None,
        help="the site's MQTT secrets directory: log in as this device's account (<site>.<lane>.<device>), "
             "as on a broker configured by `lajur broker config`")


def device_login(args: object) -> MqttLogin | None:
    """The device's own account from ``--credentials DIR``, or None (a development broker without accounts)."""
    directory = getattr(args, "credentials", None)
    if not directory:
        return None
    username = device_username(args.site, args.lane, args.device)  # type: ignore[attr-defined]
    return CredentialsDir(directory).login(username)


class FaultControl:
    """Inject/clear faults of one simulator at run time, from an MQTT control topic or stdin, through
    its :class:`simulators.faults.FaultInjectable` ``inject``."""

    def __init__(self, target: FaultInjectable) -> None:
        self.target = target
        self.name = target.name
        self.client: MqttClient | None = None
        self.topics: Topics | None = None
        self._remove: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.extra: Callable[[list[str]], str | None] | None = None
        """More stdin commands (e.g. the gate's loops): returns the answer, or None if not its own."""

    def known(self) -> str:
        return ", ".join(sorted(self.target.faults_supported))

    def active(self) -> str:
        return ", ".join(sorted(self.target.faults)) or "none"

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
            reply = await apply_control(self.target, payload)
        except ProtocolError as exc:
            log.warning("%s: bad control message (%d bytes): %s", self.name, len(payload), exc)
            return
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
                asyncio.run_coroutine_threadsafe(self.handle_line(line), loop)

    async def handle_line(self, line: str) -> str:
        """One stdin command; prints and returns the answer."""
        words = line.split()
        if not words:
            return ""
        answer = self.extra(words) if self.extra is not None else None
        if answer is not None:
            pass
        elif words[0] == "fault" and len(words) == 3 and words[2] in ("on", "off"):
            try:
                await self.target.inject(words[1], words[2] == "on")
                answer = f"faults: {self.active()}"
            except UnknownFault as exc:
                answer = str(exc)
        elif words[0] == "clear":
            await clear_all(self.target)
            answer = f"faults: {self.active()}"
        elif words[0] == "faults":
            answer = f"faults: {self.active()} (known: {self.known()})"
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
        print(f"  control {topic} on {url}  (faults: {control.known()})", flush=True)
    else:
        control.start_stdin()
        print(f"  control on stdin: {STDIN_HELP}  (faults: {control.known()})", flush=True)


def serve_stdin_faults(target: FaultInjectable) -> None:
    """For the HTTP simulators, whose servers run on threads of their own: read ``fault NAME on|off``
    and ``clear`` lines from stdin until Ctrl-C. Blocks; when stdin ends, keeps serving until Ctrl-C."""
    import time

    control = FaultControl(target)
    print(f"  control on stdin: fault NAME on|off, clear  (faults: {control.known()})", flush=True)
    for line in sys.stdin:
        asyncio.run(control.handle_line(line))
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
    add_credentials_argument(parser)
    args = parser.parse_args(argv)
    try:
        login = device_login(args)
    except ConfigError as exc:
        parser.error(str(exc))

    async def run() -> None:
        topics = Topics(args.site, args.lane, args.device)
        client = simulator_client(args.url, topics, login=login)
        sim = sim_cls(client, topics, clock=ScaledClock(args.speed), lane=args.lane)
        if setup is not None:
            setup(sim)
        await client.start()
        for fault in args.fault:
            await sim.inject(fault, True)
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
