"""Display + lane signal (one per station) on top of the shared MQTT envelope.

The controller publishes the wanted picture as retained ``state`` on ``display-<station>``:
``{"station", "signal": "red|green|off", "step", "text_id", "text_en", "plate", "fee"}``. Retained,
so a display that reboots shows the right thing at once. Nothing personal beyond the plate.
"""

from __future__ import annotations

from typing import Any

from devices.fields import field_str, field_text
from devices.mqtt_codec import STATIONS
from lane.errors import ProtocolError
from lane.ports import DisplayMessage, Signal

DEVICE_PREFIX = "display-"


def device_name(station: str) -> str:
    return f"{DEVICE_PREFIX}{station}"


def display_state(message: DisplayMessage) -> dict[str, Any]:
    return {
        "station": message.station, "signal": str(message.signal), "step": message.step,
        "text_id": message.text_id, "text_en": message.text_en, "plate": message.plate, "fee": message.fee,
    }


MAX_TEXT = 500


def parse_display_state(body: dict[str, Any]) -> DisplayMessage:
    """The picture a station shows, every field checked: a display renders text to drivers, so no
    control characters and bounded lengths; the station must be the display's own."""
    try:
        signal = Signal(field_str(body, "signal"))
    except ValueError as exc:
        raise ProtocolError("unknown signal") from exc
    station = field_str(body, "station")
    if station not in STATIONS:
        raise ProtocolError("unknown station")
    plate = field_text(body, "plate", max_len=16) if body.get("plate") is not None else None
    fee = body.get("fee")
    if fee is not None and (not isinstance(fee, int) or isinstance(fee, bool) or not 0 <= fee <= 10_000_000):
        raise ProtocolError("fee must be a whole number of rupiah up to 10,000,000, or null")
    return DisplayMessage(
        station=station, signal=signal, step=field_text(body, "step", max_len=32),
        text_id=field_text(body, "text_id", max_len=MAX_TEXT, min_len=0),
        text_en=field_text(body, "text_en", max_len=MAX_TEXT, min_len=0), plate=plate, fee=fee,
    )
