"""MQTT display device: codec shared with its simulator, and the driver."""
