"""Card data hygiene: after a whole library run, no artifact holds a PIN, a full
PAN or track 2 -- not the transcripts (whole and per device), receipts, speech,
journal, ledger, run.json, index.html, JUnit report or console output."""

from __future__ import annotations

import pytest
from conftest import LibraryRun

from simulator.devices import cards
from simulator.devices.card_image import CardImage

# The library run (tests/conftest.py) is shared with the other file of this group.
pytestmark = pytest.mark.xdist_group("library_run")


def _secrets(card: CardImage) -> dict[str, bytes]:
    wrong_pin = "".join(str((int(d) + 1) % 10) for d in card.pin)
    return {
        "PIN": card.pin.encode(),
        "wrong PIN typed by a scenario": wrong_pin.encode(),
        "full PAN": card.pan.encode(),
        "track 2": card.track2.encode(),
        "track 2 (D separator)": card.track2.replace("=", "D").encode(),
        "PAN as binary BCD": bytes.fromhex(card.pan if len(card.pan) % 2 == 0 else card.pan + "F"),
    }


def test_no_pin_or_full_pan_in_any_artifact(library_run: LibraryRun) -> None:
    """The library run (``possim run scenarios/ --verbose --junit``, tests/conftest.py)."""
    assert library_run.returncode == 0, library_run.console.decode()
    out, junit = library_run.out, library_run.junit
    card = cards.load("unionpay_debit")
    secrets = _secrets(card)
    artifacts = [p for p in out.rglob("*") if p.is_file()]
    kinds = {p.name for p in artifacts}
    # The check only means something if the run really wrote all of these.
    assert {
        "transcript.jsonl",
        "transcript.txt",
        "receipts.txt",
        "speech.txt",
        "journal.sqlite",
        "ledger.sqlite",
        "result.json",
        # docs/reports.md: per-device transcripts, receipt images, the run's reports
        "apdu.jsonl",
        "apdu.txt",
        "iso8583.jsonl",
        "iso8583.txt",
        "http.jsonl",
        "http.txt",
        "escpos.jsonl",
        "escpos.txt",
        "receipt-01.png",
        "run.json",
        "index.html",
    } <= kinds
    blobs = {str(p): p.read_bytes() for p in [*artifacts, junit]}
    blobs["console"] = library_run.console
    # ... and the masked PAN really is in the receipts, so the card was used.
    assert any(card.masked_pan.encode() in blob for blob in blobs.values())
    leaks = [
        f"{what} in {where}"
        for where, blob in blobs.items()
        for what, secret in secrets.items()
        if secret in blob
    ]
    assert not leaks, "\n".join(leaks)
