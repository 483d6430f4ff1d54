"""What possim ships for a user's own project: ``init``, ``scenarios``, ``schema``, ``docs``.

* ``possim init [DIR]`` writes a starter project a QA team can commit: a
  terminal configuration, three scenarios (with the editor's schema line), the
  schema, a pytest configuration that turns on scenario collection, a Python
  test using the ``pos`` fixture and a README. It never overwrites a file.
* ``possim scenarios`` lists the bundled scenario library; ``--copy DIR``
  copies it (or the ``--filter`` matches) into a folder.
* ``possim schema`` prints the scenario JSON Schema.
* ``possim docs [TOPIC]`` prints a reference page shipped with possim.
"""

from __future__ import annotations

import argparse
import difflib
import shutil
import sys
from pathlib import Path

from possim import bundled
from simulator.errors import SimulatorError

STARTER = Path(__file__).resolve().parent.parent / "starter"


class ProjectError(SimulatorError):
    """A project file cannot be written, or a page or scenario does not exist."""


def register_init(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = subparsers.add_parser(
        "init", help="write a starter project: terminal config, scenarios, pytest config"
    )
    init.add_argument(
        "dir", nargs="?", type=Path, default=Path("."), help="the project folder (default: .)"
    )
    init.set_defaults(handler=init_command)


def register_scenarios(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scenarios = subparsers.add_parser(
        "scenarios", help="list the bundled scenario library, or copy it into a folder"
    )
    scenarios.add_argument(
        "--filter",
        metavar="PATTERN",
        help="only scenarios whose file stem matches (a substring, or a glob like qr_*)",
    )
    scenarios.add_argument("--copy", type=Path, metavar="DIR", help="copy them into DIR")
    scenarios.add_argument(
        "--force", action="store_true", help="with --copy: overwrite files already in DIR"
    )
    scenarios.set_defaults(handler=scenarios_command)


def register_schema(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    schema = subparsers.add_parser(
        "schema", help="print the scenario JSON Schema (for editor completion)"
    )
    schema.add_argument("--out", type=Path, metavar="FILE", help="write it here, not to stdout")
    schema.set_defaults(handler=schema_command)


def register_docs(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    docs = subparsers.add_parser(
        "docs",
        help="print a reference page (scenarios, pytest, cli ...); without a topic, list them",
    )
    docs.add_argument("topic", nargs="?", help="the page, e.g. scenarios, pytest, printer")
    docs.add_argument("--path", action="store_true", help="print the page's file name instead")
    docs.set_defaults(handler=docs_command)


# -- init ---------------------------------------------------------------------------------

# (file in the starter folder, where it goes in the project)
STARTER_FILES = (
    ("pytest.ini", "pytest.ini"),
    ("README.md", "README.md"),
    ("gitignore", ".gitignore"),
    ("test_shop.py.txt", "tests/test_shop.py"),
    ("scenarios/card_purchase.yaml", "scenarios/card_purchase.yaml"),
    ("scenarios/card_declined.yaml", "scenarios/card_declined.yaml"),
    ("scenarios/qr_wechat.yaml", "scenarios/qr_wechat.yaml"),
    ("locustfile.py.txt", "locustfile.py"),  # load tests with Locust (docs/load.md)
)
TERMINAL = "terminals/shop.toml"
SCHEMA = "scenario.schema.json"


def init_command(args: argparse.Namespace) -> int:
    import firmware_fixtures
    from simulator.scenario.schema import render

    project: Path = args.dir
    contents = {target: (STARTER / source).read_bytes() for source, target in STARTER_FILES}
    terminal = firmware_fixtures.ROOT.joinpath("terminals", "default.toml").read_bytes()
    contents[TERMINAL] = (
        b"# This shop's terminal (possim init copied possim's default).\n" + terminal
    )
    contents[SCHEMA] = render().encode("utf-8")
    existing = sorted(name for name in contents if (project / name).exists())
    if existing:
        raise ProjectError(
            f"{project}: {', '.join(existing)} already there; possim init writes only into "
            "a new or empty project (nothing was written)"
        )
    for name, data in contents.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    print(f"wrote a possim project in {project}/:")
    for name in sorted(contents):
        print(f"  {name}")
    where = "" if project.resolve() == Path.cwd().resolve() else f"cd {project} && "
    print(f"next: {where}possim run scenarios/ && pytest")
    return 0


# -- scenarios ----------------------------------------------------------------------------


def scenarios_command(args: argparse.Namespace) -> int:
    from simulator.cli.run import matches

    library = bundled.scenarios()
    files = sorted(library.glob("*.yaml"))
    if args.filter is not None:
        files = [path for path in files if matches(args.filter, path.stem)]
        if not files:
            raise ProjectError(f"--filter {args.filter!r}: no bundled scenario matches")
    if args.copy is None:
        for path in files:
            print(f"{path.stem:<36} {_purpose(path)}")
        print(f"\n{len(files)} scenario(s) in {library}; `--copy DIR` copies them", file=sys.stderr)
        return 0
    target: Path = args.copy
    clashes = [path.name for path in files if (target / path.name).exists()]
    if clashes and not args.force:
        raise ProjectError(
            f"{target}: {', '.join(clashes[:5])}{' ...' if len(clashes) > 5 else ''} already "
            "there (--force overwrites; nothing was copied)"
        )
    target.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copyfile(path, target / path.name)
    print(f"copied {len(files)} scenario(s) to {target}/")
    return 0


def _purpose(path: Path) -> str:
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return "(unreadable)"
    return str(document.get("purpose", "")) if isinstance(document, dict) else ""


# -- schema -------------------------------------------------------------------------------


def schema_command(args: argparse.Namespace) -> int:
    from simulator.scenario.schema import render

    text = render()
    if args.out is None:
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


# -- docs ---------------------------------------------------------------------------------


def pages() -> dict[str, Path]:
    """The reference pages by topic (file stem)."""
    return {path.stem: path for path in sorted(bundled.docs().glob("*.md"))}


def docs_command(args: argparse.Namespace) -> int:
    found = pages()
    if args.topic is None:
        for topic, path in found.items():
            print(f"{topic:<14} {_title(path)}")
        print("\n`possim docs TOPIC` prints one", file=sys.stderr)
        return 0
    topic = str(args.topic).removesuffix(".md")
    page = found.get(topic)
    if page is None:
        close = difflib.get_close_matches(topic, found, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ProjectError(f"no page {topic!r}: {hint}pages: {', '.join(found)}")
    if args.path:
        print(page)
    else:
        sys.stdout.write(page.read_text(encoding="utf-8"))
    return 0


def _title(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return ""
