# possim-package: firmware_fixtures (possim/guard.py looks for this line; keep it)
"""possim's data: card images, vendor contracts, ISO 8583 specs, printer
profiles, terminal configurations, recorded traces. Data, not code: users add
a card or a profile by dropping a file here (or in a folder named by
``POSSIM_FIXTURES``); :mod:`drivers.fixtures` finds and reads them.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent
