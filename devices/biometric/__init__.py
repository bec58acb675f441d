"""MQTT biometric device: codec shared with its simulator, and the driver."""
