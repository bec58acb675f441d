"""Take docs/console.png, docs/display.png, docs/console-phone.png and docs/status-phone.png from a
running ``lajur demo`` (headless Chromium).

    .venv/bin/python -m tests.api.take_screenshots [--lanes 2] [--speed 10] [--warmup 30]

Not a test: it starts the demo in a subprocess, logs in with the demo account it prints, waits for
vehicles to fill the lanes, and writes the two PNGs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.api.test_browser import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]


def start_demo(lanes: int, speed: float, workdir: str) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "demo", "--port", "0", "--lanes", str(lanes),
                             "--speed", str(speed)], cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    url = password = None
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline and not (url and password):
        line = proc.stdout.readline()
        if m := re.search(r"Lajur console: (http://\S+?)/ ", line):
            url = m.group(1)
        if m := re.search(r"demo login: officer / (\S+)", line):
            password = m.group(1)
    if not (url and password):
        proc.kill()
        raise SystemExit("the demo did not start")
    return proc, url, password


async def shoot(url: str, password: str, out: Path, warmup: float) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1500, "height": 940})
        await page.goto(url + "/login")
        await page.fill("#username", "supervisor")
        await page.fill("#password", password)
        await page.click("#login-submit")
        await page.wait_for_url(url + "/")
        await page.wait_for_timeout(warmup * 1000)
        car = page.locator(".station[data-station='window-2'] .car, .station[data-station='window-1'] .car").first
        if await car.count():
            await car.click()
            await page.wait_for_timeout(800)
        await page.evaluate("document.body.classList.remove('flash')")
        await page.screenshot(path=str(out / "console.png"))
        phone = await browser.new_page(viewport={"width": 390, "height": 844})
        await phone.context.add_cookies(await page.context.cookies())
        await phone.goto(url + "/")
        await phone.wait_for_selector(".station .car", timeout=60_000)
        await phone.wait_for_timeout(1000)
        await phone.screenshot(path=str(out / "console-phone.png"), full_page=True)
        lanes = await page.evaluate("fetch('/api/v1/lanes').then((r) => r.json())")
        status = next((v["status_url"] for lane in lanes for v in lane["visits"] if v.get("status_url")), None)
        if status:
            await phone.goto(status)
            await phone.wait_for_timeout(1500)
            await phone.screenshot(path=str(out / "status-phone.png"))
        display = await browser.new_page(viewport={"width": 1280, "height": 720})
        await display.goto(url + "/display/lane-1/window-1")
        # The payment step, when the display shows the fee (live over its WebSocket).
        await display.wait_for_selector("#fee:not([hidden])", timeout=180_000)
        await display.wait_for_timeout(300)
        await display.screenshot(path=str(out / "display.png"))
        await browser.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lanes", type=int, default=2)
    ap.add_argument("--speed", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=30)
    ap.add_argument("--out", default=str(ROOT / "docs"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        proc, url, password = start_demo(args.lanes, args.speed, work)
        try:
            asyncio.run(shoot(url, password, Path(args.out), args.warmup))
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"wrote {args.out}/console.png and {args.out}/display.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
