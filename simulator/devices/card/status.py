"""The status words the virtual card answers and the cryptogram types it reports.

Status words as ISO/IEC 7816-4 and EMV 4.3 Book 3 code them (``90 00``
success, ``6x xx`` errors the terminal must handle); ``61xx`` and ``6Cxx``
are built by :mod:`.responses`, ``63Cx`` (PIN tries left) by :mod:`.verify`.
The CID values are the cryptogram types of the Cryptogram Information Data
(tag ``9F27``) in a GENERATE AC response.
"""

from __future__ import annotations

SW_OK = b"\x90\x00"
SW_WRONG_LENGTH = b"\x67\x00"
SW_INS_NOT_SUPPORTED = b"\x6d\x00"
SW_CLA_NOT_SUPPORTED = b"\x6e\x00"
SW_WRONG_P1P2 = b"\x6a\x86"
SW_WRONG_DATA = b"\x6a\x80"
SW_FILE_NOT_FOUND = b"\x6a\x82"
SW_RECORD_NOT_FOUND = b"\x6a\x83"
SW_DATA_NOT_FOUND = b"\x6a\x88"
SW_CONDITIONS = b"\x69\x85"
SW_PIN_BLOCKED = b"\x69\x83"
SW_CARD_BLOCKED = b"\x6a\x81"
SW_APP_BLOCKED = b"\x62\x83"
SW_AUTH_FAILED = b"\x63\x00"
SW_NO_DIAGNOSIS = b"\x6f\x00"

CID_AAC = 0x00
CID_TC = 0x40
CID_ARQC = 0x80
