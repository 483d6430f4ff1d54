"""Every scenario step, by keyword: :data:`STEPS`, an explicit, immutable table.

One module per family (sale, card, pin_pad, screen, host, speech, receipts,
records, charged, printer, qr, orders, faults, settlement, backoffice). A new
step is a class in its family's module (arguments declared with
:func:`simulator.scenario.args.arg`) and a line here; nothing registers itself
on import. The table's order is the reference page's order within each family.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from simulator.scenario.model import Step
from simulator.scenario.steps.backoffice import (
    ExpectMergedStatement,
    ExpectReconciliation,
    Reconcile,
    StatementFaultStep,
)
from simulator.scenario.steps.card import (
    ExpectApplication,
    InsertCard,
    RemoveCard,
    SelectApplication,
    SwipeCard,
)
from simulator.scenario.steps.charged import ExpectCharged
from simulator.scenario.steps.contactless import TapCard
from simulator.scenario.steps.faults import CardFault, GatewayFault, QrGatewayFault, ScanNoise
from simulator.scenario.steps.host import ExpectGateway
from simulator.scenario.steps.intent import ExpectIntent
from simulator.scenario.steps.orders import ExpectQrOrder, Refund, Void
from simulator.scenario.steps.pin_pad import EnterPin, Press
from simulator.scenario.steps.preauth import (
    Preauth,
    PreauthCompletion,
    PreauthCompletionVoid,
    PreauthVoid,
)
from simulator.scenario.steps.printer import CloseCover, PrinterFault, RefillPaper
from simulator.scenario.steps.qr import (
    CustomerCancels,
    CustomerConfirms,
    CustomerPaysQr,
    ExpectNotifies,
    ForgeNotify,
    ReplayNotify,
    ScanCode,
)
from simulator.scenario.steps.receipts import ExpectReceipt
from simulator.scenario.steps.records import ExpectJournal, ExpectLedger
from simulator.scenario.steps.sale import CashierCancels, ExpectCallback, Sale, Wait
from simulator.scenario.steps.screen import ExpectScreen
from simulator.scenario.steps.settlement import ExpectSettlement, Settle, UnrecordedSale
from simulator.scenario.steps.speech import ExpectSpeech


def _table(*classes: type[Step]) -> Mapping[str, type[Step]]:
    table: dict[str, type[Step]] = {}
    for cls in classes:
        if cls.keyword in table:
            raise RuntimeError(f"step {cls.keyword!r} is in the table twice")
        table[cls.keyword] = cls
    return MappingProxyType(table)


STEPS: Mapping[str, type[Step]] = _table(
    # card payments, the PIN pad and time
    Sale,
    InsertCard,
    RemoveCard,
    SwipeCard,
    TapCard,
    SelectApplication,
    EnterPin,
    Press,
    CashierCancels,
    Wait,
    ExpectScreen,
    ExpectApplication,
    ExpectCallback,
    ExpectGateway,
    ExpectSpeech,
    ExpectReceipt,
    ExpectJournal,
    ExpectLedger,
    # the printer's faults and their cure
    PrinterFault,
    RefillPaper,
    CloseCover,
    # the back office
    StatementFaultStep,
    Reconcile,
    ExpectReconciliation,
    ExpectMergedStatement,
    # money charged
    ExpectCharged,
    # faults
    CardFault,
    GatewayFault,
    QrGatewayFault,
    ScanNoise,
    # settlement
    Settle,
    ExpectSettlement,
    UnrecordedSale,
    # QR payments, refunds and voids
    ScanCode,
    CustomerConfirms,
    CustomerCancels,
    CustomerPaysQr,
    ReplayNotify,
    ForgeNotify,
    Refund,
    Void,
    ExpectQrOrder,
    ExpectNotifies,
    # an outside cashier app (possim run --serve-port)
    ExpectIntent,
    # pre-authorisation
    Preauth,
    PreauthCompletion,
    PreauthVoid,
    PreauthCompletionVoid,
)

__all__ = ["STEPS"]
