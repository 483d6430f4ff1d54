"""Host-side codecs: ISO 8583, EMVCo QR, PIN blocks, MACs, cryptograms, money.

No I/O here except ISO 8583 framing on a socket. The languages drivers speak
too (ISO 7816 APDUs, BER-TLV, ESC/POS, masking) live in :mod:`drivers.wire`.
"""

import warnings

# pyemv and psec implement EMV's mandated double-length TDES through
# cryptography's TripleDES, which warns on every call; EMV has no other choice.
# Only their warnings: a TripleDES warning from anyone else's code still shows.
# (pytest resets filters per test: possim's items carry the same filter as a
# marker, possim/pytest_plugin.py.)
warnings.filterwarnings("ignore", message=".*TripleDES.*", module=r"(pyemv|psec)\.")
