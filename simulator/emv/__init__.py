"""EMV data shared by the card, the terminal kernel and the issuer host."""

import warnings

# pyemv and psec implement EMV's mandated double-length TDES through
# cryptography's TripleDES, which warns on every call; EMV has no other choice.
# Only their warnings: a TripleDES warning from anyone else's code still shows.
# (pytest resets filters per test: possim's items carry the same filter as a
# marker, possim/pytest_plugin.py.)
warnings.filterwarnings("ignore", message=".*TripleDES.*", module=r"(pyemv|psec)\.")
