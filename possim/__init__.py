"""possim's entry points: the ``possim`` command, the pytest plugin, the device schemes.

possim's code lives in the top-level packages ``simulator``, ``drivers`` and
``firmware_fixtures`` (README, "Import names"). Their names are generic, so
every way into possim comes through this package, whose name is the
distribution's own: it checks that those packages are possim's
(:mod:`possim.guard`) and only then imports them. Nothing here imports them
at import time.
"""
