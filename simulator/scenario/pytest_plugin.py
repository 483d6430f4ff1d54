"""possim's pytest plugin, the part loaded when a project asks for possim.

:mod:`possim.pytest_plugin` (the ``pytest11`` entry point) holds the options,
the ini option and the ``pos`` fixture, and registers this module only when a
project opts in (``possim_scenario_dirs``, a ``--pos-*`` option) or a test
uses ``pos`` or ``pos_device`` (docs: ``possim docs pytest``). What it adds:

* **collection**: every ``*.yaml`` / ``*.yml`` under the folders named by the
  ini option ``possim_scenario_dirs`` (relative to the ini file) is a scenario
  file; each becomes one item named after the file, or one per combination of
  its ``variants:`` (``card_purchase[pcsc-usb]``). It runs through
  :func:`simulator.scenario.runner.run_scenario`; a failure shows the runner's
  file:line, expectation and transcript excerpt, not a traceback. Fixture data
  (``firmware_fixtures/``) is never collected.
* **artifacts** per item under ``--pos-artifacts DIR`` (default
  ``<basetemp>/possim-runs``), in a folder per xdist worker;
* **properties**: each item's terminal, device URLs, transports and seed go to
  ``item.user_properties`` (so into ``--junitxml``);
* **real devices**: ``--pos-printer/--pos-card-reader/--pos-scanner/--pos-speaker
  URL`` replace the terminal configuration's device URLs, and
  ``@pytest.mark.pos_device("printer")`` skips a test unless that device was
  given and answers (the driver's own error is the reason);
* the **pos** fixture's shop (:func:`pos_shop`): a :class:`simulator.scenario.pos.Pos`;
* **reports**: ``--pos-report DIR`` writes ``run.json`` and ``index.html`` at the
  end; under xdist each worker sends its scenario records to the controller
  (``workeroutput``, read in ``pytest_testnodedown``), which writes the one report.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from possim.pytest_plugin import DEVICE_OPTIONS, SCENARIO_DIRS_INI

# The reports' hooks are this plugin's too (pluggy registers the module's hook functions).
from simulator.scenario.report.pytest_reports import (
    FromWorkers,
    from_workers_key,
    invalid_key,
    pytest_sessionfinish,
    pytest_testnodedown,
    records_key,
    report_root,
)

__all__ = ["pytest_sessionfinish", "pytest_testnodedown"]

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr

    from simulator.scenario.model import Scenario
    from simulator.scenario.pos import Pos
    from simulator.scenario.runner import ScenarioResult
    from simulator.serve.server import ServedShop
    from simulator.terminal.config import HostEndpoint

REQUIRE_SYSTEM_ENV = "POSSIM_REQUIRE_SYSTEM"  # as in tests/conftest.py: skips become failures
SUFFIXES = (".yaml", ".yml")
# The variant axis a real device makes meaningless (a transport applies to
# simulated devices only).
DEVICE_AXES = {
    "printer": "printer_transport",
    "card_reader": "card_transport",
    "scanner": "scanner_transport",
}
# Devices two xdist workers cannot share (a speaker can: each run just talks).
_EXCLUSIVE_DEVICES = ("printer", "card_reader", "scanner")

_probes_key = pytest.StashKey[dict[tuple[str, str], str]]()
_positions_key = pytest.StashKey[dict[str, int]]()


# -- options, markers ---------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_probes_key] = {}
    config.stash[records_key] = []
    config.stash[invalid_key] = []
    config.stash[from_workers_key] = FromWorkers()
    workers = config.getoption("numprocesses", None)
    shared = [DEVICE_OPTIONS[d] for d in _EXCLUSIVE_DEVICES if _device_url(config, d)]
    if shared and isinstance(workers, int) and workers > 1:
        raise pytest.UsageError(
            f"{', '.join(shared)} name a real device that {workers} xdist workers would "
            "share: run without -n (or with -n 1)"
        )


def _dest(device: str) -> str:
    return f"pos_{device}"


def _device_url(config: pytest.Config, device: str) -> str | None:
    value = config.getoption(_dest(device), None)
    return str(value) if value else None


def device_overrides(config: pytest.Config) -> dict[str, str]:
    """``[devices]`` URLs given on the command line, by device."""
    return {d: url for d in DEVICE_OPTIONS if (url := _device_url(config, d)) is not None}


def artifacts_root(config: pytest.Config) -> Path:
    """This process's artifacts folder: one per xdist worker, so workers never share files."""
    chosen: Path | None = config.getoption("pos_artifacts", None)
    worker = getattr(config, "workerinput", {}).get("workerid")
    if chosen is not None:
        root = chosen.resolve() / worker if worker else chosen.resolve()
    else:
        # pytest's basetemp; on an xdist worker it is already <basetemp>/popen-gwN.
        factory: pytest.TempPathFactory = config._tmp_path_factory  # type: ignore[attr-defined]
        root = factory.getbasetemp() / "possim-runs"
    root.mkdir(parents=True, exist_ok=True)
    return root


# -- collection -----------------------------------------------------------------------------


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ScenarioFile | None:
    if file_path.suffix not in SUFFIXES or not _is_scenario_file(parent.config, file_path):
        return None
    file: ScenarioFile = ScenarioFile.from_parent(parent, path=file_path)
    return file


def _is_scenario_file(config: pytest.Config, path: Path) -> bool:
    from drivers import fixtures

    resolved = path.resolve()
    if any(resolved.is_relative_to(folder.resolve()) for folder in fixtures.search_path()):
        return False  # card images, profiles, specs: data, never scenarios
    return any(resolved.is_relative_to(folder) for folder in scenario_dirs(config))


def scenario_dirs(config: pytest.Config) -> list[Path]:
    base = config.inipath.parent if config.inipath is not None else config.rootpath
    entries: list[str] = config.getini(SCENARIO_DIRS_INI)
    return [(base / entry).resolve() for entry in entries]


class ScenarioFile(pytest.File):
    """A scenario YAML file: one item, or one per combination of its ``variants:``."""

    def collect(self) -> Iterator[ScenarioItem]:
        from simulator.errors import ScenarioError
        from simulator.scenario.loader import load_scenario

        try:
            scenario = load_scenario(self.path)
        except ScenarioError as exc:
            self.config.stash[invalid_key].append(exc)
            raise self.CollectError(str(exc)) from None  # file:line, no traceback
        replaced = {DEVICE_AXES[d] for d in device_overrides(self.config) if d in DEVICE_AXES}
        seen: set[str] = set()
        for combination in scenario.variant_combinations():
            variant = {axis: v for axis, v in combination.items() if axis not in replaced}
            name = self.path.stem + (f"[{'-'.join(variant.values())}]" if variant else "")
            if name in seen:  # an axis a real device replaced collapsed two combinations
                continue
            seen.add(name)
            yield ScenarioItem.from_parent(self, name=name, scenario=scenario, variant=variant)


class ScenarioFailed(Exception):
    """A scenario ran and an expectation failed: reported as its failure text."""

    def __init__(self, result: ScenarioResult) -> None:
        super().__init__(result.failure_text)
        self.result = result


class ScenarioItem(pytest.Item):
    """One run of a scenario: with the transports of one ``variants:`` combination, if any."""

    def __init__(self, *, scenario: Scenario, variant: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.variant = dict(variant)
        self.result: ScenarioResult | None = None

    def setup(self) -> None:
        seed: int | None = self.config.getoption("pos_seed", None)
        self.user_properties.append(("seed", seed if seed is not None else self.scenario.seed))
        self.user_properties.extend(self.variant.items())
        problems = requirement_problems(self.variant)
        if problems:
            what = ", ".join(f"{axis}={value}" for axis, value in self.variant.items())
            _skip_or_fail(f"{what} cannot run here: " + "; ".join(problems))

    def runtest(self) -> None:
        from simulator.scenario.runner import run_scenario

        seed: int | None = self.config.getoption("pos_seed", None)
        overrides = device_overrides(self.config)
        out_dir = self._out_dir()
        scenario = self.scenario
        if set(overrides) - {"speaker"}:
            scenario = _with_terminal_devices(scenario, overrides, out_dir)
        result = run_scenario(
            scenario,
            out_dir,
            seed=seed,
            speaker=overrides.get("speaker"),
            card_transport=self.variant.get("card_transport", "sim"),
            printer_transport=self.variant.get("printer_transport"),
            scanner_transport=self.variant.get("scanner_transport"),
            vendor=self.variant.get("vendor"),
            host=_host(self.config),
        )
        self.result = result
        self._keep_record(result)
        known = {name for name, _ in self.user_properties}
        self.user_properties.extend(
            (name, value) for name, value in result.setup.items() if name not in known
        )
        self.user_properties.append(("artifacts", str(result.artifacts)))
        if result.skipped:
            pytest.skip(result.skipped)
        if not result.passed:
            raise ScenarioFailed(result)

    def _keep_record(self, result: ScenarioResult) -> None:
        """With ``--pos-report``: the run.json record of this run, while its artifacts are fresh."""
        report_dir = report_root(self.config)
        if report_dir is None:
            return
        from simulator.scenario.report.run_record import scenario_record

        record = scenario_record(result, result.scenario.name, report_dir)
        record["test_id"] = self.nodeid
        positions = self.config.stash.get(_positions_key, None)
        if positions is None:
            positions = {item.nodeid: i for i, item in enumerate(self.session.items)}
            self.config.stash[_positions_key] = positions
        self.config.stash[records_key].append((positions.get(self.nodeid, -1), record))

    def _out_dir(self) -> Path:
        """``<root>/<folder of the file>[/[variant]]``: every item its own artifacts folder."""
        root = artifacts_root(self.config)
        try:
            folder = self.path.parent.relative_to(self.config.rootpath)
        except ValueError:
            folder = Path(re.sub(r"[^A-Za-z0-9_.-]+", "_", str(self.path.parent)))
        out = root / folder
        if self.variant:
            out = out / f"[{'-'.join(self.variant.values())}]"
        return out

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | TerminalRepr:
        from drivers.errors import DriverError
        from simulator.errors import SimulatorError

        if isinstance(excinfo.value, ScenarioFailed):
            return excinfo.value.result.failure_text
        if isinstance(excinfo.value, (SimulatorError, DriverError)):
            # The world could not be built (a device, a port, pcscd): say why, like `possim run`.
            return f"{self.path}: cannot run: {type(excinfo.value).__name__}: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, 0, f"scenario: {self.scenario.name}"


def _with_terminal_devices(
    scenario: Scenario, overrides: Mapping[str, str], out_dir: Path
) -> Scenario:
    """``scenario`` run on a copy of its terminal configuration with ``overrides``'s devices.

    run_scenario loads the terminal by name or path, so the copy is a TOML file
    beside the artifacts (and shows what the run used).
    """
    import sys

    import attrs
    import tomli_w

    from simulator.terminal.config import TerminalConfig

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    config = TerminalConfig.load(scenario.terminal)
    document: dict[str, Any] = {}
    if config.source is not None:
        document = tomllib.loads(config.source.read_text(encoding="utf-8"))
    devices = dict(document.get("devices", {}))
    devices.update({d: url for d, url in overrides.items() if d != "speaker"})
    document["devices"] = devices
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{scenario.slug}.terminal.toml"
    path.write_text(tomli_w.dumps(document), encoding="utf-8")
    return attrs.evolve(scenario, terminal=str(path))


# -- what a variant or a marked test needs --------------------------------------------------


@functools.cache
def _pcscd_problems() -> tuple[str, ...]:
    from simulator.pcscd import missing_requirements

    return tuple(missing_requirements())


def requirement_problems(variant: Mapping[str, str]) -> list[str]:
    """Why this machine cannot run ``variant`` (empty when it can)."""
    problems: list[str] = []
    if variant.get("card_transport") == "pcsc":
        problems.extend(_pcscd_problems())
    uses_pty = "pty" in (variant.get("printer_transport"), variant.get("scanner_transport"))
    if uses_pty and not hasattr(os, "openpty"):
        problems.append("this platform has no pseudo-terminals (os.openpty)")
    return problems


def _skip_or_fail(message: str) -> None:
    if os.environ.get(REQUIRE_SYSTEM_ENV) == "1":
        pytest.fail(f"{message} (and {REQUIRE_SYSTEM_ENV}=1 requires it)", pytrace=False)
    pytest.skip(message)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers(name="pos_device"):
        device = str(marker.args[0]).replace("-", "_") if marker.args else ""
        if device not in DEVICE_OPTIONS:
            pytest.fail(
                f"pos_device({device!r}): expected one of {', '.join(DEVICE_OPTIONS)}",
                pytrace=False,
            )
        url = _device_url(item.config, device)
        if url is None:
            pytest.skip(f"no {DEVICE_OPTIONS[device]} given")
        problem = probe_device(item.config, device, url)
        if problem:
            pytest.skip(problem)


def probe_device(config: pytest.Config, device: str, url: str) -> str:
    """Open ``url`` through the driver registry and close it: ``""``, or the driver's error.

    Once per device and URL per process: a device that answered the first test
    is assumed present for the rest of the session.
    """
    cache = config.stash[_probes_key]
    key = (device, url)
    if key not in cache:
        cache[key] = _open_and_close(device, url)
    return cache[key]


def _open_and_close(device: str, url: str) -> str:
    from drivers.errors import DriverError
    from drivers.kinds import DEVICE_KINDS
    from drivers.registry import open_device
    from drivers.url import DeviceURL

    try:
        if DeviceURL.parse(url).scheme == "sim":
            return ""  # possim's own virtual device: there whenever a simulation is
        opened = open_device(DEVICE_KINDS[device], url)
    except DriverError as exc:
        return str(exc)
    close = getattr(opened, "close", None)
    if callable(close):
        close()
    return ""


# -- the pos fixture ------------------------------------------------------------------------


def pos_shop(request: pytest.FixtureRequest) -> Iterator[Pos]:
    """The ``pos`` fixture's shop (terminal, simulated devices, built-in gateway).

    Honours ``--pos-seed`` and the ``--pos-<device>`` URLs; its transcript,
    journal and ledger stay under ``--pos-artifacts``.
    """
    from simulator.scenario.pos import Pos, with_devices
    from simulator.terminal.config import TerminalConfig

    config = request.config
    seed = config.getoption("pos_seed", None) or 0
    overrides = device_overrides(config)
    terminal = with_devices(TerminalConfig.load(), overrides)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid).strip("_")
    workdir = artifacts_root(config) / "pos" / slug
    if workdir.exists():  # an earlier run's journal and ledger would show in this one's
        shutil.rmtree(workdir)
    request.node.user_properties.extend(
        [
            ("seed", seed),
            ("terminal_id", terminal.terminal_id),
            *((f"device.{name}", url) for name, url in attrs_items(terminal.devices)),
            ("artifacts", str(workdir)),
        ]
    )
    shop = Pos(workdir, config=terminal, seed=seed, name=request.node.nodeid)
    try:
        yield shop
    finally:
        shop.close()


def _host(config: pytest.Config) -> HostEndpoint | None:
    """``--pos-host``: the acquirer host scenarios send card payments to (None: built-in)."""
    from simulator.terminal.config import HostEndpoint

    url: str | None = config.getoption("pos_host", None)
    if url is None:
        return None
    try:
        return HostEndpoint.parse(url)
    except ValueError as exc:
        raise pytest.UsageError(f"--pos-host: {exc}") from None


def served_shop(request: pytest.FixtureRequest) -> Iterator[ServedShop]:
    """The ``pos_served`` fixture's shop: :class:`~simulator.serve.server.ServedShop` on
    loopback, any free port, with the ``--pos-<device>`` URLs and ``--pos-seed``."""
    from simulator.scenario.pos import with_devices
    from simulator.serve.server import ServedShop, ServeOptions
    from simulator.terminal.config import TerminalConfig

    config = request.config
    terminal = with_devices(TerminalConfig.load(), device_overrides(config))
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid).strip("_")
    workdir = artifacts_root(config) / "pos_served" / slug
    if workdir.exists():
        shutil.rmtree(workdir)
    options = ServeOptions(port=0, seed=config.getoption("pos_seed", None) or 0)
    log: list[str] = []
    with ServedShop(terminal, workdir, options, log.append) as served:
        request.node.user_properties.extend([("url", served.url), ("artifacts", str(workdir))])
        yield served


def attrs_items(instance: Any) -> list[tuple[str, Any]]:
    import attrs

    return list(attrs.asdict(instance).items())
