"""JUnit XML for CI systems: one testcase per scenario."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from simulator.errors import ScenarioError
from simulator.scenario.runner import ScenarioResult


def write_junit(
    results: Sequence[ScenarioResult],
    invalid: Sequence[ScenarioError],
    path: Path,
    *,
    suite: str = "possim",
) -> None:
    """``invalid`` scenarios (that did not parse) are reported as errors."""
    failures = sum(not result.passed for result in results)
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(results) + len(invalid)),
        failures=str(failures),
        errors=str(len(invalid)),
        skipped="0",
        time=f"{sum(result.seconds for result in results):.3f}",
    )
    for result in results:
        case = ET.SubElement(
            root,
            "testcase",
            classname=f"scenarios.{result.scenario.slug}",
            name=result.scenario.name,
            file=str(result.scenario.path),
            time=f"{result.seconds:.3f}",
        )
        properties = ET.SubElement(case, "properties")
        for name, value in (
            ("purpose", result.scenario.purpose),
            ("seed", str(result.scenario.seed)),
            ("terminal", result.scenario.terminal),
            ("artifacts", str(result.artifacts)),
        ):
            ET.SubElement(properties, "property", name=name, value=value)
        if result.failure is not None:
            failure = ET.SubElement(
                case, "failure", message=str(result.failure), type="ExpectationFailed"
            )
            failure.text = result.failure_text
        transcript = result.artifacts / "transcript.txt"
        if transcript.exists():
            ET.SubElement(case, "system-out").text = transcript.read_text(encoding="utf-8")
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
