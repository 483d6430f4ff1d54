"""ESC/POS pieces of the virtual printer, one concern a module.

- :mod:`.tables`: command and symbology tables, code pages, CODE128 HRI text.
- :mod:`.status`: the real-time status bytes (``DLE EOT n``, ``GS r n``).
- :mod:`.diagnostics`: what the interpreter reports about unknown or malformed input.
- :mod:`.limits`: the largest size each length-declaring command may have (Epson's figures).
- :mod:`.retention`: the caps on what the printer keeps (receipts, diagnostics, paper ...).
- :mod:`.bitmaps`: 1-bit images as ESC/POS sends them (raster rows, column stripes).
- :mod:`.symbols`: QR code and barcode module patterns, from the stream's data.
- :mod:`.fonts`: the CJK-capable font the PNG renderer draws text with.
- :mod:`.render_png`: a cut receipt drawn as the paper would show it.
- :mod:`.samples`: sample receipt byte streams (tests, golden files, ``possim bench render``).

The interpreter itself is :class:`simulator.devices.printer.VirtualPrinter`; the
paper model (lines, spans, receipts, text rendering) is :mod:`simulator.devices.printer.paper`.
"""
