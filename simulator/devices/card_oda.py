"""Personalising a card for fDDA: its certificates in a record, its ICC key in the chip.

An application with ``fdda: true`` gets, as an issuer's bureau would give it
(:mod:`simulator.wire.oda`, keys in ``firmware_fixtures/oda/test_keys.yaml``):

* record 1 of SFI 4: the CA public key index ``8F``, the issuer public key
  certificate ``90``, its exponent ``9F32`` and remainder ``92``;
* record 2 of SFI 4: the ICC public key certificate ``9F46``, its exponent
  ``9F47`` and remainder ``9F48``;
* the ICC private key (the card signs ``9F4B`` with it, :mod:`.card.contactless`)
  and the AIP bit "DDA supported".

No record is flagged for offline data authentication (the AFL's ODA count is 0),
so the static data the ICC certificate covers is empty. Every card shares the
one ICC key pair of the test key file (its certificate binds it to each PAN).
"""

from __future__ import annotations

import attrs

from drivers.wire import ber_tlv as tlv
from simulator.devices.card_image import Application, CardImage, RecordLayout
from simulator.wire import oda

FDDA_SFI = 4
AIP_DDA = 0x20  # AIP byte 1


Records = dict[tuple[int, int], bytes]


def personalise_fdda(
    image: CardImage, app: Application
) -> tuple[Application, Records, tuple[RecordLayout, ...]]:
    """``app`` with its ICC key and DDA bit, and the two certificate records."""
    keys = oda.simulator_keys()
    expiry = image.expiry[2:] + image.expiry[:2]  # MMYY
    issuer_cert, issuer_rest = oda.issuer_certificate(keys.ca, keys.issuer, image.pan, expiry)
    icc_cert, icc_rest = oda.icc_certificate(keys.issuer, keys.icc, image.pan, expiry, b"")
    first = (
        tlv.pack("8F", bytes([keys.ca_index]))
        + tlv.pack("90", issuer_cert)
        + tlv.pack("9F32", keys.issuer.exponent)
        + tlv.pack("92", issuer_rest)
    )
    second = (
        tlv.pack("9F46", icc_cert)
        + tlv.pack("9F47", keys.icc.exponent)
        + tlv.pack("9F48", icc_rest)
    )
    records = {(FDDA_SFI, 1): tlv.pack("70", first), (FDDA_SFI, 2): tlv.pack("70", second)}
    layout = (
        RecordLayout(FDDA_SFI, 1, ("8F", "90", "9F32", "92")),
        RecordLayout(FDDA_SFI, 2, ("9F46", "9F47", "9F48")),
    )
    aip = bytes([app.aip[0] | AIP_DDA]) + app.aip[1:]
    return attrs.evolve(app, aip=aip, icc_key=keys.icc), records, layout
