"""Display + lane signal (one per station) on top of the shared MQTT envelope.

The controller publishes the wanted picture as retained ``state`` on ``display-<station>``:
``{"station", "signal": "red|green|off", "step", "text_id", "text_en", "plate", "fee"}``. Retained,
so a display that reboots shows the right thing at once. Nothing personal beyond the plate.
"""

from __future__ import annotations

from typing import Any

from devices.fields import field_str
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


def parse_display_state(body: dict[str, Any]) -> DisplayMessage:
    try:
        signal = Signal(field_str(body, "signal"))
    except ValueError as exc:
        raise ProtocolError("unknown signal") from exc
    plate = body.get("plate")
    fee = body.get("fee")
    if plate is not None and not isinstance(plate, str):
        raise ProtocolError("plate must be a string or null")
    if fee is not None and (not isinstance(fee, int) or isinstance(fee, bool)):
        raise ProtocolError("fee must be an integer or null")
    return DisplayMessage(
        station=field_str(body, "station"), signal=signal, step=field_str(body, "step"),
        text_id=field_str(body, "text_id"), text_en=field_str(body, "text_en"), plate=plate, fee=fee,
    )
