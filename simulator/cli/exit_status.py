"""The one place that turns an exception into the exit status and the line a user reads.

Every ``possim`` command exits like pytest and ruff do:

* 0 -- done, every scenario passed;
* 1 -- it ran, and scenarios (or the checks a command makes) failed;
* 2 -- usage or invalid input: a bad option, a missing or malformed file, an
  invalid scenario, a device or port that cannot be used;
* 3 -- an internal error: a bug in possim (``--debug`` shows the traceback);
* 130 -- interrupted (Ctrl-C, SIGINT).

possim's exception hierarchies (:mod:`simulator.errors`, :mod:`drivers.errors`,
:mod:`drivers.fixtures`, :mod:`drivers.traffic.trace`) carry one-line messages a user can act on;
they, and the operating system's refusals (a file, a port), are 2.
"""

from __future__ import annotations

PASSED = 0
FAILED = 1
USAGE = 2
INTERNAL = 3
INTERRUPTED = 130


def exit_status(error: BaseException) -> tuple[int, str]:
    """(exit status, one line) for an exception that ended a command."""
    from drivers.errors import DriverError
    from drivers.fixtures import FixtureFileError
    from drivers.traffic.trace import TraceError
    from simulator.errors import SimulatorError

    if isinstance(error, KeyboardInterrupt):
        return INTERRUPTED, "interrupted"
    if isinstance(error, (SimulatorError, DriverError, FixtureFileError, TraceError)):
        return USAGE, one_line(str(error)) or type(error).__name__
    if isinstance(error, OSError):
        return USAGE, _os_error(error)
    return INTERNAL, (
        f"internal error: {type(error).__name__}: {one_line(str(error))} -- a bug in possim: "
        "rerun with --debug for the traceback and report it"
    )


def one_line(text: str) -> str:
    """``text`` on one line: its lines joined with " | "."""
    return " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _os_error(error: OSError) -> str:
    reason = error.strerror or str(error)
    where = error.filename if error.filename is not None else None
    return f"{where}: {reason}" if where is not None else reason
