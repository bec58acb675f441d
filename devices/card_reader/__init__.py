"""MQTT card_reader device: codec shared with its simulator, and the driver."""
