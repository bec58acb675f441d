"""An MQTT broker inside the process (amqtt), for ``make run`` without a site broker and for tests
on machines without a mosquitto binary.

amqtt runs on its own thread and event loop so a busy or blocked test loop cannot stall the broker
(and the broker's shutdown cannot deadlock with the clients it serves). It keeps no persistence:
a restart loses sessions and retained messages, so outage tests that need those use Mosquitto.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future
from typing import Any

from simulators.ports import free_port, port_is_free

log = logging.getLogger(__name__)


MQTT_PORT = 1883


def mosquitto_sub_command(url: str, topic: str = "lajur/#") -> str:
    """The command line that shows everything the lanes say on the broker at ``url``."""
    from devices.transport.mqtt import BrokerAddress

    address = BrokerAddress.parse(url)
    auth = f" -u {address.username} -P '…'" if address.username else ""
    tls = " --capath /etc/ssl/certs" if address.tls else ""
    return f"mosquitto_sub -h {address.host} -p {address.port}{auth}{tls} -t '{topic}' -v"


class EmbeddedBroker:
    """amqtt on ``host:port``, the port kept across restarts.

    ``port=None`` (the default) takes the standard 1883 when it is free, so ``mosquitto_sub -t 'lajur/#'``
    sees a demo without options, else a free port; ``port=0`` always picks a free port (tests).
    """

    persistent = False
    """Sessions and retained messages do not survive :meth:`stop`/:meth:`start`."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        if port is None:
            port = MQTT_PORT if port_is_free(host, MQTT_PORT) else 0
        self.port = port or free_port(host)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Any = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._broker is not None

    async def start(self) -> None:
        await asyncio.to_thread(self.start_blocking)

    async def stop(self) -> None:
        await asyncio.to_thread(self.stop_blocking)

    def start_blocking(self, timeout: float = 10.0) -> None:
        """Start the broker thread and return once the listener accepts connections."""
        if self._broker is not None:
            return
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name=f"amqtt-{self.port}", daemon=True)
        self._thread.start()
        future: Future[Any] = asyncio.run_coroutine_threadsafe(self._start_broker(), loop)
        try:
            self._broker = future.result(timeout)
        except BaseException:
            self._stop_loop()
            raise
        log.info("embedded broker listening on %s", self.url)

    def stop_blocking(self, timeout: float = 10.0) -> None:
        """Shut the broker down (clients see the connection drop) and end its thread."""
        if self._broker is None or self._loop is None:
            return
        broker, self._broker = self._broker, None
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(broker), self._loop).result(timeout)
        except Exception:
            log.exception("embedded broker: shutdown failed")
        finally:
            self._stop_loop()
        log.info("embedded broker on %s stopped", self.url)

    async def _start_broker(self) -> Any:
        # amqtt is imported lazily: it is heavy and only some runs need it
        from amqtt.adapters import StreamReaderAdapter, StreamWriterAdapter
        from amqtt.broker import Broker

        # We own the listening socket ("external" listener) so that stop() can close every client
        # connection at once: amqtt's own shutdown can leave sockets half-open or the port bound.
        config = {
            "listeners": {"default": {"type": "external"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        broker = Broker(config)
        await broker.start()
        writers = self._writers = set()

        async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.add(writer)
            try:
                await broker.external_connected(StreamReaderAdapter(reader), StreamWriterAdapter(writer), "default")
            except Exception:
                log.debug("embedded broker: connection ended with an error", exc_info=True)
            finally:
                writers.discard(writer)
                writer.close()

        self._server = await asyncio.start_server(connected, self.host, self.port, reuse_address=True)
        return broker

    async def _shutdown(self, broker: Any) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()  # clients see the drop at once, as with a dying broker
        try:
            await asyncio.wait_for(broker.shutdown(), 3)
        except Exception:
            log.debug("embedded broker: amqtt shutdown incomplete", exc_info=True)

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None:
            return

        async def _drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(_drain(), loop).result(5)
        except Exception:
            log.debug("embedded broker: drain failed", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(5)
        loop.close()


async def _main() -> None:  # pragma: no cover - manual use
    import argparse

    parser = argparse.ArgumentParser(description="Run Lajur's embedded MQTT broker")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1884)
    args = parser.parse_args()
    broker = EmbeddedBroker(args.host, args.port)
    await broker.start()
    print(broker.url, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await broker.stop()


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(level=logging.INFO)
    asyncio.run(_main())
