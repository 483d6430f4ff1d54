"""EMV data shared by the card, the terminal kernel and the issuer host."""

import warnings

# pyemv implements EMV's mandated double-length TDES through
# cryptography's TripleDES, which warns on every call; EMV has no other choice.
warnings.filterwarnings("ignore", message=".*TripleDES.*")
