"""The examples in the wire packages' docstrings run, and every public seam has one.

``drivers.wire`` and ``simulator.wire`` are the languages possim speaks (ISO 7816,
BER-TLV, ESC/POS, ISO 8583, money ...); their docstrings show each one at work, the
way pyiso8583's do. This runs them under ``make test`` (the test run collects
``tests/`` only), so an example that stops being true fails here.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from types import ModuleType

import pytest

PACKAGES = ("drivers.wire", "simulator.wire")
# Modules whose public functions carry examples: a module here without any fails.
DOCUMENTED = frozenset(
    {
        "drivers.wire.ber_tlv",
        "drivers.wire.emv_tags",
        "drivers.wire.escpos",
        "drivers.wire.iso7816",
        "drivers.wire.masking",
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
        names.extend(info.name for info in pkgutil.walk_packages(module.__path__, f"{package}."))
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
