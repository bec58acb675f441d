"""Lane cameras: a frame source (HTTP snapshot or any OpenCV ``VideoCapture`` URL) plus the plate
reader, voting across frames until confident (lane.ports.PlateCamera).

OpenCV work is blocking, so frames are decoded and read in a small thread pool; the event loop only
awaits the result.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import httpx
import numpy as np

from lane.errors import DeviceError, DeviceOffline, DeviceTimeout
from lane.ports import PlateRead
from vision.multiframe import FrameVoter
from vision.reader import PlateReader

log = logging.getLogger(__name__)
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="vision")


class FrameSource:
    """Where frames come from: ``http(s)://…`` snapshot URLs, or a VideoCapture URL/file/device."""

    def __init__(self, url: str, *, timeout: float = 3.0) -> None:
        self.url = url
        self._http = httpx.AsyncClient(timeout=timeout) if url.startswith(("http://", "https://")) else None
        self._capture: cv2.VideoCapture | None = None
        self._lock = threading.Lock()

    async def grab(self) -> np.ndarray:
        if self._http is not None:
            try:
                resp = await self._http.get(self.url)
            except httpx.TimeoutException as exc:
                raise DeviceTimeout("camera", f"no frame from {self.url}") from exc
            except httpx.HTTPError as exc:
                raise DeviceOffline("camera", f"cannot reach {self.url}: {exc}") from exc
            if resp.status_code != 200:
                raise DeviceError("camera", f"snapshot answered {resp.status_code}")
            data = resp.content
            return await asyncio.get_running_loop().run_in_executor(_POOL, _decode, data)
        return await asyncio.get_running_loop().run_in_executor(_POOL, self._read_capture)

    def _read_capture(self) -> np.ndarray:
        with self._lock:
            if self._capture is None or not self._capture.isOpened():
                self._capture = cv2.VideoCapture(self.url)
            ok, frame = self._capture.read()
            if not ok or frame is None:
                self._capture.release()
                self._capture = None
                raise DeviceOffline("camera", f"no frame from {self.url}")
            return frame

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
        with self._lock:
            if self._capture is not None:
                self._capture.release()


def _decode(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise DeviceError("camera", "snapshot is not a decodable image")
    return img


class ReadingCamera:
    """A lane camera that answers "which plate is in front of you?" with a voted, calibrated read."""

    def __init__(self, name: str, source: FrameSource, reader: PlateReader, *, min_confidence: float = 0.9,
                 max_frames: int = 5) -> None:
        self.name = name
        self.source = source
        self.reader = reader
        self.min_confidence = min_confidence
        self.max_frames = max_frames
        self.online = True

    async def read_plate(self, *, timeout: float) -> PlateRead:
        voter = FrameVoter(min_confidence=self.min_confidence, max_frames=self.max_frames,
                           format=self.reader.format)
        best = None
        loop = asyncio.get_running_loop()

        async def _run() -> None:
            nonlocal best
            while True:
                frame = await self.source.grab()
                reading = await loop.run_in_executor(_POOL, self.reader.read, frame)
                if reading.plate and (best is None or reading.confidence > best.confidence):
                    best = reading
                if voter.add(reading).done:
                    return

        try:
            async with asyncio.timeout(timeout):
                await _run()
            self.online = True
        except TimeoutError:
            pass
        except DeviceError:
            self.online = False
            raise
        vote = voter.result()
        crop = None
        if best is not None and best.crop is not None:
            ok, buf = cv2.imencode(".jpg", best.crop)
            crop = buf.tobytes() if ok else None
        return PlateRead(plate=vote.plate, confidence=float(vote.confidence),
                         bbox=best.bbox if best is not None else None,
                         ms=sum([best.ms]) if best is not None else 0.0, crop_jpeg=crop)

    async def close(self) -> None:
        await self.source.close()
