"""SIM card printer: ASCII command/response codec (``codec``) and serial driver (``driver``)."""
