"""Standalone simulators as a technician runs them (`lajur sim NAME …` in its own process): they print
where they listen, the real drivers talk to them there, and faults are injected at run time through the
control topic. Every subprocess is terminated, whatever happens."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devices.gate.serial_driver import SerialBarrierGate
from devices.mqtt_codec import Topics
from devices.payment.driver import MqttPaymentTerminal
from devices.transport.mqtt import MqttClient
from devices.transport.serial import SerialTransport
from lane.errors import GateSafetyError
from lane.ports import GatePosition, PaymentOutcome

ROOT = Path(__file__).resolve().parents[2]


async def until(cond, timeout: float = 5.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def lajur_sim(tmp_path: Path, *args: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, list[str]]]:
    """Start ``python -m cli.main sim …``; yields the process and the lines it printed up to its
    control line. Always terminated."""
    log = (tmp_path / f"sim-{args[0]}.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", "sim", *args, cwd=ROOT,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        while not any("control" in line for line in lines):
            raw = await asyncio.wait_for(proc.stdout.readline(), 20)
            if not raw:
                raise AssertionError(f"simulator exited: {(tmp_path / f'sim-{args[0]}.log').read_text()[-2000:]}")
            lines.append(raw.decode().rstrip())
        yield proc, lines
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()


async def control(client: MqttClient, topics: Topics, fault: str, active: bool = True) -> dict[str, Any]:
    answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    def on_ack(_t: str, payload: bytes, _r: bool) -> None:
        body = json.loads(payload)
        if body["fault"] == fault and body["active"] == active and not answer.done():
            answer.set_result(body)

    # one connection: the broker takes our SUBSCRIBE before our PUBLISH, so the answer is not missed
    remove = client.subscribe(topics.control_ack, on_ack)
    try:
        await client.publish(topics.control, json.dumps({"v": 1, "fault": fault, "active": active}), qos=1)
        return await asyncio.wait_for(answer, 5)
    finally:
        remove()


async def test_payment_simulator_standalone_with_a_fault_at_run_time(mqtt_broker, mqtt_client_factory, tmp_path):
    topics = Topics("tech-site", "lane-7", "payment")
    async with lajur_sim(tmp_path, "payment", "--url", mqtt_broker.url, "--site", "tech-site", "--lane", "lane-7",
                         "--speed", "100") as (proc, lines):
        assert any(topics.root in line for line in lines) and any(topics.control in line for line in lines)
        client = mqtt_client_factory("tech-controller")
        await client.start()
        await client.wait_connected(5)
        terminal = MqttPaymentTerminal(client, topics)
        await terminal.start()
        await terminal.wait_online(10)
        paid = await terminal.charge("RN-TECH-1", 30_000, timeout=10)
        assert paid.outcome is PaymentOutcome.PAID
        answer = await control(client, topics, "declined")
        assert answer["ok"] and answer["faults"] == ["declined"]
        refused = await terminal.charge("RN-TECH-2", 30_000, timeout=10)
        assert refused.outcome is PaymentOutcome.FAILED and refused.detail == "declined"
        await control(client, topics, "declined", False)
        assert (await terminal.charge("RN-TECH-3", 30_000, timeout=10)).outcome is PaymentOutcome.PAID
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        await until(lambda: not terminal.online, what="offline announced on the way out")
        await terminal.stop()


async def test_serial_gate_simulator_standalone_with_mqtt_control(mqtt_broker, mqtt_client_factory, tmp_path):
    topics = Topics("tech-site", "lane-7", "entry-gate")
    async with lajur_sim(tmp_path, "gate", "--mqtt", mqtt_broker.url, "--site", "tech-site", "--lane", "lane-7",
                         "--open-seconds", "0.2") as (_proc, lines):
        match = re.search(r" on (/\S+)", lines[0])
        assert match, lines
        gate = SerialBarrierGate("entry-gate", SerialTransport(match.group(1), name="entry-gate"), poll_interval=0.02)
        client = mqtt_client_factory("tech-controller", clean_session=True)
        await client.start()
        await client.wait_connected(5)
        await gate.start()
        try:
            await until(lambda: gate.online, what="gate online")
            await gate.open()
            await until(lambda: gate.status.position is GatePosition.OPEN, what="open")
            answer = await control(client, topics, "loop_stuck")
            assert answer["ok"] and answer["faults"] == ["loop_stuck"]
            await until(lambda: gate.status.safety_loop and "loop_fault" in gate.status.faults, what="loop fault")
            with pytest.raises(GateSafetyError):
                await gate.close()
            await control(client, topics, "loop_stuck", False)
            await until(lambda: not gate.status.safety_loop, what="loop clear")
            await gate.close()
            await until(lambda: gate.status.position is GatePosition.CLOSED, what="closed")
        finally:
            await gate.stop()


async def test_mqtt_gate_simulator_standalone(mqtt_broker, mqtt_client_factory, tmp_path):
    from devices.gate.mqtt_driver import MqttBarrierGate

    topics = Topics("tech-site", "lane-7", "exit-gate")
    async with lajur_sim(tmp_path, "gate", "--transport", "mqtt", "--mqtt", mqtt_broker.url, "--site", "tech-site",
                         "--lane", "lane-7", "--device", "exit-gate", "--open-seconds", "0.2",
                         "--fault", "stuck") as (_proc, lines):
        assert any(topics.control in line for line in lines)
        client = mqtt_client_factory("tech-controller")
        await client.start()
        await client.wait_connected(5)
        gate = MqttBarrierGate(client, topics, "exit-gate")
        await gate.start()
        await gate.wait_online(10)
        await gate.open()
        await until(lambda: gate.status.position is GatePosition.FAULT, what="stuck")
        await control(client, topics, "stuck", False)
        await until(lambda: gate.status.position is GatePosition.CLOSED, what="recovered")
        await gate.open()
        await until(lambda: gate.status.position is GatePosition.OPEN, what="open")
        await gate.stop()


@pytest.mark.parametrize("name", ["gate", "printer", "receipt", "camera", "payment", "biometric", "registry",
                                  "traffic", "card-reader", "display"])
def test_every_simulator_has_help(name, capsys):
    from cli.main import main

    with pytest.raises(SystemExit) as info:
        main(["sim", name, "--help"])
    assert info.value.code == 0 and "usage:" in capsys.readouterr().out


def test_help_as_a_technician_types_it():
    r = subprocess.run([sys.executable, "-m", "cli.main", "sim", "gate", "--help"], capture_output=True, text=True,
                       cwd=ROOT, timeout=30)
    assert r.returncode == 0 and "--fault" in r.stdout and "--mqtt" in r.stdout, r.stderr


async def test_a_standalone_simulator_logs_in_as_its_device_on_the_sites_broker(site_mqtt_broker, tmp_path):
    """A technician standing in for the lane-2 payment terminal, with that terminal's secret: the controller
    (its own account) charges through it under the site's ACL."""
    broker = site_mqtt_broker
    topics = Topics(broker.site, "lane-2", "payment")
    async with lajur_sim(tmp_path, "payment", "--url", broker.url, "--site", broker.site, "--lane", "lane-2",
                         "--speed", "100", "--credentials", str(broker.credentials.path)):
        login = broker.login(f"{broker.site}.controller")
        client = MqttClient(broker.url, login.username, login=login)
        await client.start()
        terminal = MqttPaymentTerminal(client, topics)
        await terminal.start()
        try:
            await terminal.wait_online(10)
            assert (await terminal.charge("RN-TECH-9", 30_000, timeout=10)).outcome is PaymentOutcome.PAID
        finally:
            await terminal.stop()
            await client.stop()
