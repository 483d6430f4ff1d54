"""The languages drivers speak and traces redact: ISO 7816 APDUs, BER-TLV and EMV
tag names, ESC/POS bytes, and how card data is masked outside the card.

Pure functions and constants, no I/O; the simulator's devices and host use the
same modules, so a device and its driver agree on one copy of each fact.
"""
