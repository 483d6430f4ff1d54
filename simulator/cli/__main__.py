"""``python -m simulator.cli``: the ``possim`` command without the console script's guard.

Tests and subprocesses in a checkout use it; users run ``possim`` (or ``python -m
possim``), which first checks that the packages it imports are possim's.
"""

from __future__ import annotations

import sys

from simulator.cli import main

sys.exit(main())
