"""``possim doctor``: can this machine use real card readers?

Checks the PC/SC stack from the bottom up and says what to do at the first
thing missing: pyscard (the Python binding), pcscd (the daemon), then lists
each reader with the ATR and protocol of the card in it. Exit status 0 means
pcscd answered -- even with no reader plugged in, the stack itself works.

A contactless reader (a dual reader's PICC interface, by its PC/SC name) is
marked ``[contactless]``, and a card in it is named by its PC/SC Part 3 ATR:
a contactless smart card, or a storage card by its card name bytes (MIFARE
Classic 1K, Ultralight/NTAG, FeliCa ...).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from importlib import metadata
from typing import Any

from drivers.errors import DriverError
from drivers.pcsc_card_reader import (
    INSTALL_HINT,
    error_text,
    establish_context,
    is_picc_reader,
    list_readers,
    load_scard,
    protocol_name,
    reader_states,
)
from drivers.wire.pcsc_atr import parse_contactless_atr

DEFAULT_SOCKET = "/run/pcscd/pcscd.comm"
SOCKET_ENV = "PCSCLITE_CSOCK_NAME"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check the PC/SC stack: pyscard, pcscd, readers and their cards"
    )
    parser.set_defaults(handler=doctor_command)


def doctor_command(args: argparse.Namespace) -> int:
    return diagnose(print)


def diagnose(say: Callable[[str], None]) -> int:
    try:
        scard = load_scard()
    except DriverError:
        say(f"pyscard: not installed. {INSTALL_HINT}")
        return 1
    say(f"pyscard: {_version()}")
    socket_path = os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET
    try:
        context = establish_context(scard)
    except DriverError as exc:
        say(f"pcscd: not reachable at {socket_path}: {exc}")
        if os.environ.get(SOCKET_ENV):
            say(f"  ({SOCKET_ENV} is set: unset it to use the system pcscd)")
        return 1
    try:
        say(f"pcscd: running ({socket_path})")
        try:
            readers = list_readers(scard, context)
            states = reader_states(scard, context, readers)
        except DriverError as exc:
            say(f"readers: cannot list them: {exc}")
            return 1
        if not readers:
            say(
                "readers: none. Plug a reader in, or serve a virtual card to vsmartcard's "
                "vpcd: `possim card serve unionpay_debit` (apt-get install vsmartcard-vpcd, "
                "then restart pcscd)"
            )
            return 0
        say(f"readers: {len(readers)}")
        for name, state, atr in states:
            kind = " [contactless]" if is_picc_reader(name) else ""
            say(f"  {name}{kind}: {_describe_slot(scard, context, name, state, atr)}")
        return 0
    finally:
        scard.SCardReleaseContext(context)


def _describe_slot(scard: Any, context: int, reader: str, state: int, atr: bytes) -> str:
    if not state & scard.SCARD_STATE_PRESENT:
        return "no card"
    atr_text = " ".join(f"{byte:02X}" for byte in atr) or "(none)"
    if state & scard.SCARD_STATE_MUTE:
        return f"card present but mute (it does not answer reset), ATR {atr_text}"
    hr, handle, protocol = scard.SCardConnect(
        context, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
    )
    if hr & 0xFFFFFFFF:
        if hr & 0xFFFFFFFF == scard.SCARD_E_SHARING_VIOLATION & 0xFFFFFFFF:
            return f"card present, ATR {atr_text} (in use by another application)"
        return f"card present, ATR {atr_text} (cannot connect: {error_text(scard, hr)})"
    scard.SCardDisconnect(handle, scard.SCARD_LEAVE_CARD)
    described = f"card present, ATR {atr_text}, protocol {protocol_name(scard, protocol)}"
    # A Part 3 ATR is a contactless card in a PICC reader (a contact T=1 ATR can have
    # the same shape); a storage card's ATR, with the PC/SC RID, says so anywhere.
    part3 = parse_contactless_atr(atr)
    if part3 is not None and (part3.storage or is_picc_reader(reader)):
        described += f": {part3.describe()}"
    return described


def _version() -> str:
    try:
        return metadata.version("pyscard")
    except metadata.PackageNotFoundError:
        return "installed"
