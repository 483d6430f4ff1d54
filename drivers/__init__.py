# possim-package: drivers (possim/guard.py looks for this line; keep it)
"""Device drivers: one module per device class, chosen by URL.

Nothing in this package knows whether a device is real or simulated; simulated
devices plug in through the same URL registry as real transports.
"""

from drivers import escpos_cache

# Before anything imports python-escpos: its capabilities cache goes to possim's
# cache folder, not a new temp dir per process (see drivers/escpos_cache.py).
escpos_cache.install()
