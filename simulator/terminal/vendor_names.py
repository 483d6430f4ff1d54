"""The vendor profiles possim ships (``firmware_fixtures/vendors/NAME.yaml``).

Kept import-free so the command line can offer them without loading the
contract model (:mod:`simulator.terminal.contract`).
"""

VENDORS = ("newland", "lakala", "sunmi", "ums", "wangpos")
