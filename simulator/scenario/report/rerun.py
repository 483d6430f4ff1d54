"""The command that reruns one scenario exactly: its file, its seed and its transports."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulator.scenario.runner import ScenarioResult

# ScenarioResult.setup key -> the `possim run` option that sets it.
_OPTIONS = (
    ("card_transport", "--card-transport"),
    ("printer_transport", "--printer-transport"),
    ("scanner_transport", "--scanner-transport"),
    ("speaker", "--speaker"),
    ("vendor", "--vendor"),
    ("card_host", "--host"),
    ("serve_port", "--serve-port"),
)


def rerun_command(result: ScenarioResult, program: str = "possim") -> str:
    """A shell command line: same file, same seed, same transports -> same transcript."""
    words = [program, "run", str(result.scenario.path), "--seed", str(result.used_seed)]
    for key, option in _OPTIONS:
        value = result.setup.get(key)
        if value is not None:
            words += [option, value]
    return shlex.join(words)


def labels(results: Sequence[ScenarioResult]) -> list[str]:
    """Each result's display name; repeated scenarios get ``[run i/n, seed s]``."""
    return label_runs([(str(r.scenario.path), r.scenario.name, r.used_seed) for r in results])


def label_runs(runs: Sequence[tuple[str, str, int]]) -> list[str]:
    """:func:`labels` of ``(file, name, seed)`` runs (e.g. from ``run.json`` records)."""
    totals: dict[str, int] = {}
    for key, _, _ in runs:
        totals[key] = totals.get(key, 0) + 1
    seen: dict[str, int] = {}
    named: list[str] = []
    for key, name, seed in runs:
        seen[key] = seen.get(key, 0) + 1
        if totals[key] > 1:
            name += f" [run {seen[key]}/{totals[key]}, seed {seed}]"
        named.append(name)
    return named
