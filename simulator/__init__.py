# possim-package: simulator (possim/guard.py looks for this line; keep it)
"""possim's simulated world: virtual devices, the terminal apps, the gateway,
scenarios and the TUI, all built on one event stream and one clock."""
