"""``python -m lane`` runs the ``lajur`` command.

The command line is the composition root (it wires simulators, API and devices together), so it
lives outside this package; importing it lazily here keeps `lane` itself free of those layers.
"""

import importlib
import sys

sys.exit(importlib.import_module("cli.main").main())
