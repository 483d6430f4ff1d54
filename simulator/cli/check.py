"""``possim check PATH...``: validate scenario files without running them.

Every problem of every file is printed as ``file:line: problem`` (the parser's
own messages, so ``possim run`` says the same), sorted by file and line; the
exit status is 2 (invalid input, as under ``possim run``) if there was any,
else ``N scenarios OK`` and 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simulator.errors import ScenarioError
from simulator.scenario.loader import check_scenario, discover


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = commands.add_parser(
        "check", help="validate scenario files (file:line for each problem) without running them"
    )
    check.add_argument("paths", nargs="+", type=Path, help="scenario files or folders")
    check.set_defaults(handler=check_command)


def check_paths(paths: list[Path]) -> tuple[int, list[ScenarioError]]:
    """How many scenario files were checked, and every problem found in them."""
    files = discover(paths)
    problems: list[ScenarioError] = []
    for path in files:
        _, found = check_scenario(path)
        problems.extend(sorted(found, key=lambda error: error.line or 0))
    return len(files), problems


def check_command(args: argparse.Namespace) -> int:
    try:
        count, problems = check_paths(args.paths)
    except ScenarioError as exc:  # a path that does not exist
        print(exc, file=sys.stderr)
        return 2
    if count == 0:
        print("no scenario files (*.yaml) found", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    if problems:
        files = len({problem.path for problem in problems})
        print(f"{len(problems)} problem(s) in {files} of {count} scenario(s)", file=sys.stderr)
        return 2
    print(f"{count} scenarios OK")
    return 0
