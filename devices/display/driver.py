"""Controller side of a station's display and lane signal over MQTT."""

from __future__ import annotations

import logging
from typing import Any

from devices import mqtt_codec
from devices.display import codec
from devices.mqtt_codec import Topics
from devices.mqtt_device import MqttDeviceDriver
from devices.transport.mqtt import MqttClient
from lane.ports import DisplayMessage

log = logging.getLogger(__name__)


class MqttDisplay(MqttDeviceDriver):
    """Implements :class:`lane.ports.Display` for ``display-<station>``.

    ``show`` never fails because the display is offline: the picture is retained and appears
    when the display comes back (its availability tells the console it is dark meanwhile).
    """

    def __init__(self, client: MqttClient, topics: Topics, name: str | None = None) -> None:
        super().__init__(client, topics, name)
        self.last_shown: DisplayMessage | None = None

    async def show(self, message: DisplayMessage) -> None:
        if not self.online:
            log.info("%s: offline; %s will show when it returns", self.name, message.step)
        self.last_shown = message
        payload = mqtt_codec.encode(codec.display_state(message))
        await self.client.publish(self.topics.state, payload, qos=1, retain=True)

    def validate_state(self, body: dict[str, Any]) -> None:
        codec.parse_display_state(body)
