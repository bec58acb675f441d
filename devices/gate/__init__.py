"""Barrier gate: RS-485 binary codec (``codec``) and the polled serial driver (``serial_driver``)."""
