"""Every example in possim's docstrings runs, and the public seams keep theirs.

The docstrings show each piece at work, the way pyiso8583's do: the wire
languages (ISO 7816, BER-TLV, ESC/POS, ISO 8583, money ...), the seams a
harness uses (Shop, Hands, ShopView), the stores, the registry. This runs them
under ``make test`` (the test run collects ``tests/`` only), so an example that
stops being true fails here, and a seam that loses its examples fails too.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from types import ModuleType

import pytest

PACKAGES = ("drivers", "simulator", "possim")
# Importing these imports Locust, which monkey-patches the standard library for
# gevent: they belong to Locust processes (tests/test_loadtest.py runs them so).
LOCUST_ONLY = frozenset({"possim.locust", "simulator.loadtest.user"})
# Modules whose docstrings carry examples: a module here without any fails.
DOCUMENTED = frozenset(
    {
        "drivers.params",
        "drivers.printer.prepare",
        "drivers.wire.ber_tlv",
        "drivers.wire.emv_tags",
        "drivers.wire.escpos",
        "drivers.wire.iso7816",
        "drivers.wire.masking",
        "simulator.devices.card",
        "simulator.devices.card.verify",
        "simulator.devices.cards",
        "simulator.devices.printer",
        "simulator.devices.printer.faults",
        "simulator.fleet.plan",
        "simulator.fleet.report",
        "simulator.gateway.acquirer.fields",
        "simulator.gateway.acquirer.host",
        "simulator.gateway.ledger.card",
        "simulator.hands",
        "simulator.loadtest.identity",
        "simulator.shop",
        "simulator.storage",
        "simulator.view",
        "simulator.wire.batch_totals",
        "simulator.wire.emvco",
        "simulator.wire.iso8583.codec",
        "simulator.wire.iso8583.framing",
        "simulator.wire.iso8583.redaction",
        "simulator.wire.iso8583.spec",
        "simulator.wire.mac",
        "simulator.wire.money",
        "simulator.wire.pin_block",
    }
)


def _modules() -> list[str]:
    names: list[str] = []
    for package in PACKAGES:
        module = importlib.import_module(package)
        names.append(package)
        names.extend(
            info.name
            for info in pkgutil.walk_packages(module.__path__, f"{package}.")
            if not info.name.endswith("__main__")  # running it is the command itself
            and info.name not in LOCUST_ONLY
        )
    return sorted(names)


MODULES = _modules()


def _run(module: ModuleType) -> doctest.TestResults:
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(module, module.__name__):
        runner.run(test)
    return runner.summarize(verbose=False)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    results = _run(importlib.import_module(name))
    report = capsys.readouterr().out
    assert results.failed == 0, report
    if name in DOCUMENTED:
        assert results.attempted > 0, f"{name} has lost its docstring examples"


def test_every_documented_module_exists() -> None:
    assert set(MODULES) >= DOCUMENTED
