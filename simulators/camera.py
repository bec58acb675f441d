"""Camera simulator: an HTTP snapshot server for every lane camera of a site.

``GET /<lane>/<camera>/snapshot.jpg`` returns the current scene: the vehicle the traffic simulator
placed in front of the camera, rendered with its plate (`simulators.plate_render`), or an empty lane.
Faults at run time, one at a time per camera: ``blank`` (black frames), ``blurred``, ``no_plate``
(vehicle without plate), ``down`` (HTTP 503), through each camera's :meth:`CameraSimulator.device`
(:class:`simulators.faults.FaultInjectable`) or ``POST /control/<lane>/<camera>/fault {"fault": …}``
(``none`` clears).
"""

from __future__ import annotations

import argparse
import asyncio
import threading
from dataclasses import dataclass

import cv2
import numpy as np
from fastapi import FastAPI, HTTPException, Response
from pydantic import BaseModel

from simulators.faults import UnknownFault, check_fault, clear_all
from simulators.http_server import ThreadedServer
from simulators.plate_render import render_scene

CAMERA_FAULTS = frozenset({"blank", "blurred", "no_plate", "down"})


@dataclass
class Scene:
    plate: str | None = None
    seed: int = 0
    frame: int = 0


class FaultBody(BaseModel):
    fault: str


class SimulatedCamera:
    """One camera of a :class:`CameraSimulator`, as a fault target: one fault at a time, a new one
    replaces the last."""

    faults_supported = CAMERA_FAULTS

    def __init__(self, site: CameraSimulator, lane: str, camera: str) -> None:
        self.site, self.lane, self.name = site, lane, camera

    @property
    def faults(self) -> frozenset[str]:
        fault = self.site.faults.get((self.lane, self.name), "none")
        return frozenset() if fault == "none" else frozenset({fault})

    async def inject(self, fault: str, active: bool = True) -> None:
        check_fault(self, fault)
        if active:
            self.site._set_fault(self.lane, self.name, fault)
        elif fault in self.faults:
            self.site._set_fault(self.lane, self.name, "none")


class CameraSimulator:
    def __init__(self, width: int = 1280, height: int = 720) -> None:
        self.width, self.height = width, height
        self.scenes: dict[tuple[str, str], Scene] = {}
        self.faults: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self._cache: dict[tuple[str | None, int, str], bytes] = {}
        self.app = self._build_app()
        self._server: ThreadedServer | None = None

    # ------------------------------------------------------------ scene control (traffic simulator)
    def show(self, lane: str, camera: str, plate: str, seed: int = 0) -> None:
        with self._lock:
            self.scenes[(lane, camera)] = Scene(plate, seed)

    def clear(self, lane: str, camera: str) -> None:
        with self._lock:
            self.scenes[(lane, camera)] = Scene()

    def device(self, lane: str, camera: str) -> SimulatedCamera:
        """One camera of the site, to inject its faults."""
        return SimulatedCamera(self, lane, camera)

    def _set_fault(self, lane: str, camera: str, fault: str) -> None:
        with self._lock:
            self.faults[(lane, camera)] = fault

    # ------------------------------------------------------------ frames
    def frame_jpeg(self, lane: str, camera: str) -> bytes:
        with self._lock:
            scene = self.scenes.get((lane, camera), Scene())
            fault = self.faults.get((lane, camera), "none")
            frame_no = scene.frame % 3  # a few different frames per vehicle: noise/lighting vary
            scene.frame += 1
        if fault == "down":
            raise HTTPException(503, "camera offline (simulated)")
        key = (scene.plate, scene.seed * 10 + frame_no, fault)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if fault == "blank":
            img = np.zeros((self.height, self.width, 3), np.uint8)
        elif scene.plate is None or fault == "no_plate":
            img = self._empty_lane(scene.seed)
        else:
            img, _ = render_scene(scene.plate, seed=scene.seed * 10 + frame_no, width=self.width,
                                  height=self.height, blur=6.0 if fault == "blurred" else None)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        data = buf.tobytes()
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[key] = data
        return data

    def _empty_lane(self, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        img = np.full((self.height, self.width, 3), 90, np.uint8)
        img[self.height // 2:, :] = 60  # asphalt
        return cv2.add(img, rng.integers(0, 12, img.shape, dtype=np.uint8))

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="Lajur camera simulator")

        @app.get("/{lane}/{camera}/snapshot.jpg")
        def snapshot(lane: str, camera: str) -> Response:
            return Response(self.frame_jpeg(lane, camera), media_type="image/jpeg")

        @app.post("/control/{lane}/{camera}/fault")
        async def fault(lane: str, camera: str, body: FaultBody) -> dict[str, str]:
            target = self.device(lane, camera)
            try:
                if body.fault == "none":
                    await clear_all(target)
                else:
                    await target.inject(body.fault)
            except UnknownFault as exc:
                raise HTTPException(422, str(exc)) from exc
            return {"fault": body.fault}

        return app

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = ThreadedServer(self.app, host, port)
        self._server.start()
        return self._server.url

    def stop(self) -> None:
        if self._server:
            self._server.stop()

    def snapshot_url(self, lane: str, camera: str) -> str:
        assert self._server is not None
        return f"{self._server.url}/{lane}/{camera}/snapshot.jpg"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lajur sim camera", description="Camera simulator (HTTP snapshots).")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--lane", default="lane-1")
    ap.add_argument("--camera", default="entry-camera")
    ap.add_argument("--plate", default="G1234ABC", help="plate to show in front of the camera")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fault", choices=sorted(CAMERA_FAULTS))
    args = ap.parse_args(argv)
    sim = CameraSimulator()
    sim.show(args.lane, args.camera, args.plate, args.seed)
    camera = sim.device(args.lane, args.camera)
    if args.fault:
        asyncio.run(camera.inject(args.fault))
    sim.start(args.host, args.port)
    print(f"camera simulator: {sim.snapshot_url(args.lane, args.camera)}", flush=True)
    from simulators.standalone import serve_stdin_faults

    try:
        serve_stdin_faults(camera)
    except KeyboardInterrupt:
        sim.stop()
    return 0
