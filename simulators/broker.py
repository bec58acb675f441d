"""The brokers a simulated site starts itself: Mosquitto with the site's generated configuration where
it is installed, else an MQTT broker inside the process (amqtt) enforcing the same files.

amqtt runs on its own thread and event loop so a busy or blocked test loop cannot stall the broker
(and the broker's shutdown cannot deadlock with the clients it serves). It keeps no persistence:
a restart loses sessions and retained messages, so outage tests that need those use Mosquitto.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import shutil
import socket
import subprocess
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from devices.mqtt_access import Account
from devices.mqtt_broker import BrokerFiles, BrokerOptions, write_broker_files
from devices.mqtt_secrets import CredentialsDir
from devices.transport.mqtt import DEFAULT_MAX_PAYLOAD, BrokerAddress, TlsFiles
from lane.errors import ConfigError, ProtocolError
from simulators.ports import free_port, port_is_free

log = logging.getLogger(__name__)


MQTT_PORT = 1883
PACKET_LIMIT_SLACK = 1024


def mosquitto_sub_command(url: str, topic: str = "lajur/#", *, username: str | None = None,
                          password_file: Path | None = None, tls: TlsFiles | None = None) -> str:
    """The command line that shows what the account may see on the broker at ``url``. The secret is
    read from its file when the command runs, so it is never printed."""
    address = BrokerAddress.parse(url)
    auth = ""
    if username:
        auth = f" -u {shlex.quote(username)}"
        if password_file is not None:
            auth += f' -P "$(cat {shlex.quote(str(password_file))})"'
    tls_args = ""
    if address.tls:
        tls = tls or TlsFiles()
        tls_args = f" --cafile {shlex.quote(str(tls.ca_file))}" if tls.ca_file else " --capath /etc/ssl/certs"
        if tls.cert_file and tls.key_file:
            tls_args += f" --cert {shlex.quote(str(tls.cert_file))} --key {shlex.quote(str(tls.key_file))}"
    return f"mosquitto_sub -h {address.host} -p {address.port}{auth}{tls_args} -t '{topic}' -v"


def pick_port(host: str, port: int | None) -> int:
    """``None``: the standard 1883 when it is free (so ``mosquitto_sub`` finds a demo without ``-p``),
    else a free port; ``0``: any free port (tests); else that port."""
    if port is None:
        port = MQTT_PORT if port_is_free(host, MQTT_PORT) else 0
    return port or free_port(host)


class EmbeddedBroker:
    """amqtt on ``host:port``, the port kept across restarts (``port`` as :func:`pick_port`).

    With ``files`` (a site's password file and ACL, :mod:`devices.mqtt_broker`) it lets in only the
    site's accounts and applies the ACL; without, anyone may connect (tests of other things).
    Either way no packet over ``max_payload`` (and a header's worth) is read.
    """

    persistent = False
    """Sessions and retained messages do not survive :meth:`stop`/:meth:`start`."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, *, files: BrokerFiles | None = None,
                 max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self.host = host
        self.port = pick_port(host, port)
        self.files = files
        self.max_payload = max_payload
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
        from amqtt.adapters import StreamWriterAdapter

        from simulators.broker_access import (
            CONNACK_NOT_AUTHORISED,
            BoundedReader,
            SiteAccess,
            SiteBroker,
            read_connect,
        )

        # We own the listening socket ("external" listener) so that stop() can close every client
        # connection at once: amqtt's own shutdown can leave sockets half-open or the port bound. It
        # also lets us check a login before amqtt sees the connection (simulators/broker_access.py).
        plugins: dict[str, Any] = {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
        access = SiteAccess.load(self.files) if self.files is not None else None
        if self.files is not None:
            plugins = {"simulators.broker_access.SiteLoginPlugin": {},
                       "simulators.broker_access.SiteTopicPlugin": {"acl_file": str(self.files.acl)}}
        broker = SiteBroker({"listeners": {"default": {"type": "external"}}, "plugins": plugins})
        await broker.start()
        writers = self._writers = set()
        limit = self.max_payload + PACKET_LIMIT_SLACK

        async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.add(writer)
            try:
                head = b""
                if access is not None:
                    connect = await read_connect(reader)
                    refused = access.refusal(connect)
                    if refused is not None:
                        log.info("embedded broker: refused a connection from %s: %s",
                                 writer.get_extra_info("peername"), refused)
                        writer.write(CONNACK_NOT_AUTHORISED)
                        await writer.drain()
                        return
                    head = connect.packet(client_id=connect.username)
                await broker.external_connected(BoundedReader(reader, writer, limit, head),
                                                StreamWriterAdapter(writer), "default")
            except (ProtocolError, asyncio.IncompleteReadError, ConnectionError) as exc:
                log.debug("embedded broker: connection ended: %s", exc)
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


def mosquitto_binary() -> str | None:
    """The installed Mosquitto, if any (``/usr/sbin`` is often not on a user's PATH)."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class MosquittoBroker:
    """A Mosquitto process running a configuration written by :func:`devices.mqtt_broker.write_broker_files`
    (its persistence keeps sessions and retained states across :meth:`restart_blocking`)."""

    persistent = True

    def __init__(self, binary: str, files: BrokerFiles, host: str, port: int) -> None:
        self.binary, self.files, self.host, self.port = binary, files, host, port
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None

    async def start(self) -> None:
        await asyncio.to_thread(self.start_blocking)

    async def stop(self) -> None:
        await asyncio.to_thread(self.stop_blocking)

    def start_blocking(self, timeout: float = 10.0) -> None:
        """Start Mosquitto and return once it accepts connections; ConfigError with its own words if it exits."""
        if self._proc is not None:
            return
        proc = self._proc = subprocess.Popen([self.binary, "-c", str(self.files.config)],
                                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        waited, pause = 0.0, 0.005
        while not _port_open(self.host, self.port):
            try:  # waiting for it to exit is the pause between probes, and says when it gave up
                proc.wait(pause)
            except subprocess.TimeoutExpired:
                waited += pause
                pause = min(pause * 2, 0.05)
                if waited < timeout:
                    continue
                self.stop_blocking()
                raise ConfigError(f"mosquitto did not listen on {self.host}:{self.port} within {timeout:.0f} s") from None
            err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
            self._proc = None
            raise ConfigError(f"mosquitto exited with {proc.returncode}: {err[-500:]}")
        log.info("mosquitto listening on %s (%s)", self.url, self.files.config)

    def stop_blocking(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()  # SIGTERM: mosquitto saves its persistence file on the way out
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stderr:
            proc.stderr.close()

    def restart_blocking(self) -> None:
        self.stop_blocking()
        self.start_blocking()


SiteBrokerProcess = MosquittoBroker | EmbeddedBroker


def site_broker(workdir: Path, site: str, accounts: Sequence[Account], credentials: CredentialsDir | None, *,
                host: str = "127.0.0.1", port: int | None = None, max_payload: int = DEFAULT_MAX_PAYLOAD,
                embedded: bool = False) -> SiteBrokerProcess:
    """A broker of the site's own (not yet started) under the configuration ``lajur broker config`` would
    write for it, in ``workdir``: Mosquitto where installed (and ``embedded`` is not asked for), else
    the embedded broker reading the same password file and ACL. ``credentials`` None: anonymous (only
    for tests of other things). ``port`` as :func:`pick_port`."""
    import getpass

    port = pick_port(host, port)
    binary = None if embedded else mosquitto_binary()
    options = BrokerOptions(port=port, host=host, max_payload=max_payload, persistence_dir=workdir.resolve(),
                            run_as=getpass.getuser(), log_file=(workdir / "mosquitto.log").resolve(),
                            anonymous=credentials is None)
    files = write_broker_files(workdir, site, accounts, credentials, options)
    if binary is not None:
        return MosquittoBroker(binary, files, host, port)
    return EmbeddedBroker(host, port, files=None if credentials is None else files, max_payload=max_payload)


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
