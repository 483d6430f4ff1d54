"""The ``pcsc://`` scheme: card readers on the PC/SC stack (pcscd via pyscard).

pyscard is imported only when a ``pcsc://`` URL is opened, so registering the
scheme costs nothing on machines without the optional ``pcsc`` extra.
"""

from __future__ import annotations

from drivers.registry import DeviceContext, DeviceKind, DeviceRegistry, DeviceURL


def register(registry: DeviceRegistry) -> None:
    registry.register(DeviceKind.CARD_READER, "pcsc", open_card_reader)


def open_card_reader(url: DeviceURL, context: DeviceContext) -> object:
    from drivers.pcsc_card_reader import PcscCardReader, load_scard

    if context.recorder is None:
        return PcscCardReader(url.target, clock=context.clock)
    # record= (docs/replay.md): the recorder wraps pyscard; drivers.traffic is above us.
    scard = context.recorder.scard(load_scard(), url, reader=url.target)
    return PcscCardReader(url.target, clock=context.clock, scard=scard)
