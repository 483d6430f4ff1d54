"""The ``pcsc://`` scheme: card readers on the PC/SC stack (pcscd via pyscard).

pyscard is imported only when a ``pcsc://`` URL is opened, so registering the
scheme costs nothing on machines without the optional ``pcsc`` extra.
"""

from __future__ import annotations

from drivers.card_reader import CardReader
from drivers.registry import DeviceContext, DeviceRegistry
from drivers.url import DeviceURL


def register(registry: DeviceRegistry) -> None:
    registry.register(
        CardReader,
        "pcsc",
        open_card_reader,
        usage="pcsc://READER",
        help="a card reader on the PC/SC stack (pcscd via pyscard, docs/pcsc.md): READER is "
        "its exact name or any unique part of it; none: whichever reader has a card",
    )


def open_card_reader(url: DeviceURL, context: DeviceContext) -> CardReader:
    from drivers.pcsc_card_reader import PcscCardReader, load_scard

    if context.recorder is None:
        return PcscCardReader(url.target, clock=context.clock)
    # record= (docs/replay.md): the recorder wraps pyscard; drivers.traffic is above us.
    scard = context.recorder.scard(load_scard(), url, reader=url.target)
    return PcscCardReader(url.target, clock=context.clock, scard=scard)
