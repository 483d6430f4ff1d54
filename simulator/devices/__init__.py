"""Virtual devices: each emulates its hardware at the transport and speaks the
device's real wire format (APDUs, ESC/POS bytes, scanned lines)."""
