"""possim's pytest plugin, as the ``pytest11`` entry point loads it: inert unless asked.

pytest loads this module in every session of every environment possim is
installed in, so it imports nothing of possim and changes nothing until a
project asks for possim (docs: ``possim docs pytest``):

* the ini option ``possim_scenario_dirs`` names folders of YAML scenarios, or a
  ``--pos-*`` option is given: the scenario collector, the reports and the
  ``pos_device`` checks (:mod:`simulator.scenario.pytest_plugin`) are loaded
  at configure time;
* a test asks for the ``pos`` fixture or carries ``@pytest.mark.pos_device``:
  they are loaded for it.

Only then is :func:`possim.guard.check` run and possim imported. Warnings
possim's own code triggers (cryptography's TripleDES deprecation: EMV mandates
double-length TDES) are ignored on possim's items only, never session-wide.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from simulator.scenario.pos import Pos
    from simulator.serve.server import ServedShop

SCENARIO_DIRS_INI = "possim_scenario_dirs"
ACTIVE_PLUGIN = "possim-scenarios"
# What possim's items ignore: EMV mandates double-length TDES; cryptography warns on every use.
POSSIM_WARNING_FILTERS = ("ignore:.*TripleDES.*",)
# Device (a [devices] key) -> its command-line option.
DEVICE_OPTIONS = {
    "printer": "--pos-printer",
    "card_reader": "--pos-card-reader",
    "scanner": "--pos-scanner",
    "speaker": "--pos-speaker",
}
_OPTION_DESTS = (
    "pos_artifacts",
    "pos_seed",
    "pos_report",
    "pos_host",
    *(f"pos_{d}" for d in DEVICE_OPTIONS),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("possim", "possim scenarios and simulated POS (possim docs pytest)")
    group.addoption(
        "--pos-artifacts",
        metavar="DIR",
        type=Path,
        help="where scenario items and the pos fixture leave transcripts, receipts, journal "
        "and ledger (one sub-folder per xdist worker); default: <basetemp>/possim-runs",
    )
    group.addoption(
        "--pos-seed",
        metavar="N",
        type=int,
        help="seed for every scenario (instead of its seed:) and for the pos fixture (default 0)",
    )
    for device, option in DEVICE_OPTIONS.items():
        group.addoption(
            option,
            metavar="URL",
            dest=f"pos_{device}",
            help=f"the {device.replace('_', ' ')} instead of the terminal configuration's "
            "(a real device by URL, see possim docs pytest); pos_device tests need it",
        )
    group.addoption(
        "--pos-host",
        metavar="iso8583://HOST:PORT",
        help="scenario items send card payments to this acquirer host, on the real clock; "
        "those needing the built-in gateway's internals are skipped with the reason",
    )
    group.addoption(
        "--pos-report",
        metavar="DIR",
        type=Path,
        help="write the run's reports (JSON run record, HTML summary) here at the end",
    )
    parser.addini(
        SCENARIO_DIRS_INI,
        type="linelist",
        default=[],
        help="folders (relative to the ini file) whose *.yaml files are possim scenarios; "
        "possim collects no YAML without it",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "pos_device(kind): needs a real device given by --pos-<kind> (printer, card_reader, "
        "scanner, speaker) that answers; skipped with the driver's reason otherwise",
    )
    if opted_in(config):
        activate(config)


def opted_in(config: pytest.Config) -> bool:
    """Whether the project asked for possim: scenario folders, or a ``--pos-*`` option."""
    if config.getini(SCENARIO_DIRS_INI):
        return True
    return any(config.getoption(dest, None) is not None for dest in _OPTION_DESTS)


def activate(config: pytest.Config) -> None:
    """Load the rest of the plugin (once), after checking possim's packages are possim's."""
    if config.pluginmanager.has_plugin(ACTIVE_PLUGIN):
        return
    from possim.guard import problem

    found = problem()
    if found is not None:
        raise pytest.UsageError(found)
    from simulator.scenario import pytest_plugin

    config.pluginmanager.register(pytest_plugin, ACTIVE_PLUGIN)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _is_possims(config, item):
            activate(config)
            for spec in POSSIM_WARNING_FILTERS:
                item.add_marker(pytest.mark.filterwarnings(spec))


def _is_possims(config: pytest.Config, item: pytest.Item) -> bool:
    fixtures = getattr(item, "fixturenames", ())
    if "pos" in fixtures or "pos_served" in fixtures or item.get_closest_marker("pos_device"):
        return True
    active = config.pluginmanager.get_plugin(ACTIVE_PLUGIN)
    return active is not None and isinstance(item, active.ScenarioItem)


@pytest.fixture
def pos(request: pytest.FixtureRequest) -> Iterator[Pos]:
    """A simulated smart POS (terminal, simulated devices, built-in gateway).

    Honours ``--pos-seed`` and the ``--pos-<device>`` URLs; its transcript,
    journal and ledger stay under ``--pos-artifacts``.
    """
    activate(request.config)
    from simulator.scenario.pytest_plugin import pos_shop

    yield from pos_shop(request)


@pytest.fixture
def pos_served(request: pytest.FixtureRequest) -> Iterator[ServedShop]:
    """A shop served as ``possim serve`` serves it (real clock, loopback, any free port):
    hand ``pos_served.url`` to the code under test -- your cashier app's client --
    and play the cardholder with ``pos_served.shop.hands`` (docs/cashier_apps.md).
    Its journal and ledger stay under ``--pos-artifacts``.
    """
    activate(request.config)
    from simulator.scenario.pytest_plugin import served_shop

    yield from served_shop(request)
