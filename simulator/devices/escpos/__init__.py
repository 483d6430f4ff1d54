"""ESC/POS pieces of the virtual printer, one concern a module.

- :mod:`.tables`: command and symbology tables, code pages, CODE128 HRI text.
- :mod:`.status`: the real-time status bytes (``DLE EOT n``, ``GS r n``); their bits are
  :mod:`drivers.wire.escpos`.

The printer itself -- interpreter, command families, paper model, limits,
renderer -- is the package :mod:`simulator.devices.printer`.
"""
