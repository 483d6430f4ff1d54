"""JUnit XML for CI systems: one testcase per scenario.

Each testcase carries ``<properties>``: the scenario's purpose and seed, the
terminal (configuration name, terminal and merchant id), every device URL and
the transports it ran over, the possim version, the artifacts folder, and on
failure the failure text and the command that reruns it. ``<system-out>``
names the artifacts folder and its files. The run's own information (options,
versions) goes into the testsuite's ``<properties>``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.errors import ScenarioError
from simulator.scenario.report.rerun import labels, rerun_command
from simulator.scenario.report.run_record import versions

if TYPE_CHECKING:
    from simulator.scenario.runner import ScenarioResult


def write_junit(
    results: Sequence[ScenarioResult],
    invalid: Sequence[ScenarioError],
    path: Path,
    *,
    suite: str = "possim",
    run_info: Mapping[str, Any] | None = None,
) -> None:
    """``invalid`` scenarios (that did not parse) are reported as errors."""
    failures = sum(not result.passed for result in results)
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(results) + len(invalid)),
        failures=str(failures),
        errors=str(len(invalid)),
        skipped=str(sum(bool(result.skipped) for result in results)),
        time=f"{sum(result.seconds for result in results):.3f}",
    )
    found = versions()
    suite_properties = ET.SubElement(root, "properties")
    for name, value in {
        **{f"version.{lib}": version for lib, version in found.items()},
        **(run_info or {}),
    }.items():
        if name != "versions" and value is not None:
            _property(suite_properties, name, value)
    for result, label in zip(results, labels(results), strict=True):
        case = ET.SubElement(
            root,
            "testcase",
            classname=f"scenarios.{result.scenario.slug}",
            name=label,
            file=str(result.scenario.path),
            time=f"{result.seconds:.3f}",
        )
        properties = ET.SubElement(case, "properties")
        for name, value in (
            ("purpose", result.scenario.purpose),
            ("seed", str(result.used_seed)),
            ("terminal", result.scenario.terminal),
            *result.setup.items(),
            ("possim_version", found["possim"]),
            ("artifacts", str(result.artifacts)),
        ):
            _property(properties, name, value)
        if result.skipped:
            ET.SubElement(case, "skipped", message=result.skipped)
        if result.failure is not None:
            _property(properties, "failure", result.failure_text)
            _property(properties, "rerun", rerun_command(result))
            failure = ET.SubElement(
                case, "failure", message=str(result.failure), type="ExpectationFailed"
            )
            failure.text = result.failure_text
        folder = result.artifacts
        files = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        ET.SubElement(case, "system-out").text = "\n".join(
            [f"artifacts: {result.artifacts}", *(f"  {name}" for name in files)]
        )
    for error in invalid:
        case = ET.SubElement(
            root,
            "testcase",
            classname=f"scenarios.{error.path.stem}",
            name=str(error.path),
            file=str(error.path),
            time="0",
        )
        ET.SubElement(case, "error", message=str(error), type="ScenarioError").text = str(error)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def _property(parent: ET.Element, name: str, value: Any) -> None:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    ET.SubElement(parent, "property", name=name, value=text)
