"""The terminal's EMV contact kernel, one module per stage (docs/emv.md).

``from simulator.terminal.emv import EmvKernel, TerminalEmvConfig, ...``.
"""

from __future__ import annotations

from simulator.terminal.emv.config import DEFAULT_AIDS, AidEntry, TerminalEmvConfig
from simulator.terminal.emv.constants import APPROVAL_CODES, DE55_TAGS
from simulator.terminal.emv.errors import (
    CardBlocked,
    EmvError,
    EmvProtocolError,
    EmvSequenceError,
    NoApplication,
)
from simulator.terminal.emv.kernel import EmvKernel
from simulator.terminal.emv.results import (
    ApplicationChoice,
    ApplicationChooser,
    CardData,
    CvmOutcome,
    CvmResult,
    FirstAc,
    PinRequest,
    PinSource,
    SecondAc,
)

__all__ = [
    "APPROVAL_CODES",
    "DE55_TAGS",
    "DEFAULT_AIDS",
    "AidEntry",
    "ApplicationChoice",
    "ApplicationChooser",
    "CardBlocked",
    "CardData",
    "CvmOutcome",
    "CvmResult",
    "EmvError",
    "EmvKernel",
    "EmvProtocolError",
    "EmvSequenceError",
    "FirstAc",
    "NoApplication",
    "PinRequest",
    "PinSource",
    "SecondAc",
    "TerminalEmvConfig",
]
