"""Receipt printer: ESC/POS over serial, built with python-escpos (``driver``)."""
