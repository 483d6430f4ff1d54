"""The ``possim`` command line: a table of subcommands, each imported only when it runs.

``possim --help`` lists :data:`COMMANDS` without importing any of them (the
printer stack, Textual, the gateway cost a second of CPU to import); a
subcommand's module is imported when that subcommand is named, and its
``register(subparsers)`` adds the real parser. Errors reach the user through
:mod:`simulator.cli.exit_status`: one line on stderr and the exit status every
command shares (docs: ``possim docs cli``).

One module here per command family -- ``run``, ``check``, ``demo``,
``project`` (init, scenarios, schema, docs), ``gateway`` (+ ``backoffice``:
statement, reconcile, revenue), ``channels`` (the channels' own APIs), ``fleet``,
``card``, ``doctor``, ``printer``, ``render``, ``tui``, ``trace``, ``bench`` -- each
with its ``register`` and thin handlers: arguments in, the engine's package called,
lines and an exit status out. What a command does lives in that package, not here.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

DEBUG_ENV = "POSSIM_DEBUG"
BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a process killed by it


class Command(NamedTuple):
    """A subcommand: its name, its one-line description and the function that adds it."""

    name: str
    help: str
    register: str  # "module:function", function(subparsers) adds the subcommand's parser


COMMANDS = (
    Command("run", "run scenarios headless and report", "simulator.cli.run:register"),
    Command(
        "demo",
        "run the full card purchase and show receipt and speech",
        "simulator.cli.demo:register",
    ),
    Command(
        "check",
        "validate scenario files (file:line for each problem) without running them",
        "simulator.cli.check:register",
    ),
    Command(
        "init",
        "write a starter project: terminal config, scenarios, pytest config",
        "simulator.cli.project:register_init",
    ),
    Command(
        "scenarios",
        "list the bundled scenario library, or copy it into a folder",
        "simulator.cli.project:register_scenarios",
    ),
    Command(
        "schema",
        "print the scenario JSON Schema (for editor completion)",
        "simulator.cli.project:register_schema",
    ),
    Command(
        "docs",
        "print a reference page (scenarios, pytest, cli ...); without a topic, list them",
        "simulator.cli.project:register_docs",
    ),
    Command(
        "serve",
        "one shop as a local service: a cashier app's door, hands and view over HTTP",
        "simulator.cli.serve:register",
    ),
    Command("gateway", "the acquirer host simulator", "simulator.cli.gateway:register"),
    Command(
        "channels",
        "the payment channels' own APIs (WeChat Pay, Alipay, UnionPay QR) on loopback",
        "simulator.cli.channels:register",
    ),
    Command(
        "fleet",
        "run N simulated terminals against an ISO 8583 host and report",
        "simulator.cli.fleet:register",
    ),
    Command("card", "virtual cards outside a simulation", "simulator.cli.card:register"),
    Command(
        "doctor",
        "check the PC/SC stack: pyscard, pcscd, readers and their cards",
        "simulator.cli.doctor:register",
    ),
    Command(
        "printer",
        "serve the virtual printer on TCP/pty, or check a real printer",
        "simulator.cli.printer:register",
    ),
    Command(
        "render",
        "render a captured ESC/POS byte stream to text and PNG",
        "simulator.cli.render:register",
    ),
    Command(
        "tui",
        "operate a simulated smart POS and its hardware on screen (Textual)",
        "simulator.cli.tui:register",
    ),
    Command("trace", "record device traffic and replay it", "simulator.cli.trace:register"),
    Command("bench", "list benchmarks, or run one", "simulator.cli.bench:register"),
)
_BY_NAME = {command.name: command for command in COMMANDS}
_TOP_LEVEL_FLAGS = {"-h", "--help", "--version", "--debug"}


def main(argv: Sequence[str] | None = None) -> int:
    """The ``possim`` command; ``argv`` given: called from Python (a test), not as a process."""
    if argv is None:  # this process is possim: its signals are possim's to handle
        stop_on_sigint()
    words = list(sys.argv[1:] if argv is None else argv)
    chosen = chosen_command(words)
    if "_ARGCOMPLETE" in os.environ:  # pragma: no cover - exercised through the shell
        _complete(chosen)
    parser = build_parser(chosen)
    args = parser.parse_args(words)
    handler: Callable[[argparse.Namespace], Any] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    debug = bool(args.debug) or os.environ.get(DEBUG_ENV) == "1"
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        print(f"possim {args.command}: interrupted", file=sys.stderr, flush=True)
        return 130
    except BrokenPipeError:  # `possim docs | head`: the reader left; nothing to say to it
        _silence_stdout()
        return BROKEN_PIPE
    except Exception as exc:
        if debug:
            raise
        from simulator.cli.exit_status import exit_status

        status, line = exit_status(exc)
        print(f"possim {args.command}: {line}", file=sys.stderr, flush=True)
        return status


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit raises nothing more."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def stop_on_sigint() -> None:
    """Make SIGINT raise KeyboardInterrupt, however this process was started.

    Python installs its SIGINT handler only when it starts with SIGINT at its
    default action. A process started with it ignored -- ``possim card serve &``
    in a non-interactive shell, or any child of such a process -- would
    otherwise ignore Ctrl-C and ``kill -INT`` for good. (SIGTERM keeps its
    default: an exception raised at an arbitrary point of a threaded shutdown
    can leave threads behind that keep the process alive; the commands that
    serve until stopped handle SIGTERM themselves.)
    """
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set handlers (main() called from a thread)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def chosen_command(words: Sequence[str]) -> str | None:
    """The subcommand ``words`` name (the first word that is not a top-level flag)."""
    for word in words:
        if word in _TOP_LEVEL_FLAGS:
            continue
        return word if word in _BY_NAME else None
    return None


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The parser: every subcommand as a stub, except ``chosen`` (``"*"``: all) in full."""
    parser = argparse.ArgumentParser(
        prog="possim",
        description="Smart-POS terminal simulator and hardware test harness.",
        epilog="`possim COMMAND --help` describes a command; `possim docs` lists the "
        "reference pages. Exit status: 0 passed, 1 scenarios failed, 2 usage or invalid "
        "input, 3 internal error, 130 interrupted.",
    )
    parser.add_argument("--version", action=_Version, help="print possim's version and exit")
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"show the traceback of an error instead of one line (or {DEBUG_ENV}=1)",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    for command in COMMANDS:
        if chosen in (command.name, "*"):
            load(command)(commands)
        else:
            commands.add_parser(command.name, help=command.help, add_help=False)
    describe_subcommands(parser)
    return parser


def load(command: Command) -> Callable[[Any], None]:
    module, _, function = command.register.partition(":")
    registered: Callable[[Any], None] = getattr(importlib.import_module(module), function)
    return registered


def describe_subcommands(parser: argparse.ArgumentParser) -> None:
    """Give every subcommand's ``--help`` its one-line description, if it has none."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help for choice in action._choices_actions}
        for name, subparser in action.choices.items():
            if subparser.description is None and helps.get(name):
                subparser.description = str(helps[name])[:1].upper() + str(helps[name])[1:] + "."
            describe_subcommands(subparser)


class LazyChoice:
    """An option's ``type=`` that accepts one of the strings at ``"module:NAME"``.

    Like ``choices=``, but the module is imported only when a value is checked,
    not when ``--help`` lists the options (argparse expands ``choices`` there).
    Give the option a ``metavar`` naming the choices, and for shell completion
    the action's ``completer`` set to :meth:`complete`.
    """

    def __init__(self, target: str) -> None:
        self._target = target

    def choices(self) -> tuple[str, ...]:
        module, _, name = self._target.partition(":")
        return tuple(getattr(importlib.import_module(module), name))

    def complete(self, **kwargs: Any) -> tuple[str, ...]:
        """Shell completion's values (argcomplete calls an action's ``completer``)."""
        return self.choices()

    def __call__(self, value: str) -> str:
        choices = self.choices()
        if value not in choices:
            raise argparse.ArgumentTypeError(
                f"invalid choice: {value!r} (choose from {', '.join(choices)})"
            )
        return value


class _Version(argparse.Action):
    """``--version``: read from the installed distribution's metadata when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(f"possim {version()}")
        parser.exit()


def version() -> str:
    from importlib import metadata

    try:
        return metadata.version("possim")
    except metadata.PackageNotFoundError:
        return "(not installed: a source tree)"


def _complete(chosen: str | None) -> None:  # pragma: no cover - exercised through the shell
    """Shell completion (argcomplete): the parser of the command being typed, then exit."""
    import argcomplete

    line = os.environ.get("COMP_LINE", "")[: int(os.environ.get("COMP_POINT", "0") or 0)]
    typed = chosen_command(line.split()[1:])
    argcomplete.autocomplete(build_parser(typed or chosen))
