"""Simulated station display + lane signal.

It renders nothing: it keeps the last message the controller showed and tells in-process
listeners (the traffic simulator's virtual drivers watch the signal to know when to move).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from devices.display import codec
from devices.mqtt_codec import Topics, decode
from devices.transport.mqtt import MqttClient
from lane.clock import Clock
from lane.errors import ProtocolError
from lane.ports import DisplayMessage
from simulators.ledger import Ledger
from simulators.mqtt_device import MqttDeviceSimulator

log = logging.getLogger(__name__)

DisplayListener = Callable[[DisplayMessage], None]


class DisplaySimulator(MqttDeviceSimulator):
    faults_supported = frozenset({"offline"})

    def __init__(
        self,
        client: MqttClient,
        topics: Topics,
        clock: Clock | None = None,
        lane: str = "lane-1",
        ledger: Ledger | None = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(client, topics, clock=clock, lane=lane, ledger=ledger, name=name)
        self.shown: DisplayMessage | None = None
        self.history: deque[DisplayMessage] = deque(maxlen=200)
        self._display_listeners: list[DisplayListener] = []
        self._latest: DisplayMessage | None = None

    @property
    def station(self) -> str:
        return self.topics.device.removeprefix(codec.DEVICE_PREFIX)

    async def start(self) -> None:
        self._unsub_state = self.client.subscribe(self.topics.state, self._on_state)
        await super().start()

    async def stop(self) -> None:
        self._unsub_state()
        await super().stop()

    def add_listener(self, listener: DisplayListener) -> Callable[[], None]:
        """``listener(message)`` each time the display changes (on the loop thread)."""
        self._display_listeners.append(listener)
        return lambda: self._display_listeners.remove(listener) if listener in self._display_listeners else None

    def _on_state(self, topic: str, payload: bytes, retained: bool) -> None:
        if not payload:
            return
        try:
            message = codec.parse_display_state(decode(payload))
        except ProtocolError as exc:
            self.malformed_counter.record(topic, payload, exc)
            return
        self._latest = message
        if "offline" not in self.faults:
            self._render(message)

    async def inject(self, fault: str, active: bool = True) -> None:
        await super().inject(fault, active)
        if fault == "offline" and not active and self._latest is not None:
            self._render(self._latest)  # back on: show what the controller wants now

    def _render(self, message: DisplayMessage) -> None:
        if message == self.shown:
            return
        self.shown = message
        self.history.append(message)
        for listener in list(self._display_listeners):
            try:
                listener(message)
            except Exception:
                log.exception("%s: display listener failed", self.name)


def main(argv: list[str] | None = None) -> int:
    """``lajur sim display --url mqtt://broker:1883 [--station entry]``: print what the station's display
    and signal show; serve until Ctrl-C."""
    import argparse

    from devices.mqtt_codec import STATIONS
    from simulators.standalone import simulator_main

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--station", default="entry", choices=STATIONS)
    known, rest = pre.parse_known_args(argv)

    def _print(sim: DisplaySimulator) -> None:
        sim.add_listener(lambda m: print(f"[{m.signal}] {m.step}: {m.text_id} / {m.text_en} {m.plate or ''}",
                                         flush=True))

    if "-h" in rest or "--help" in rest:
        print("station: --station entry|window-1|window-2|window-3|exit (default entry)")
    return simulator_main(DisplaySimulator, codec.device_name(known.station), rest, setup=_print,
                          prog="lajur sim display [--station STATION]")


if __name__ == "__main__":  # pragma: no cover - technicians' tool
    import sys

    sys.exit(main())
