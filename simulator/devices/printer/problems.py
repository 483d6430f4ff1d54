"""Problems a served printer meets, told as they happen: one line each.

``possim printer serve`` hands any network client's bytes to the virtual
printer. Each problem the printer reports -- an unknown command, a size over
the model's limits, a line it could not print -- is written at once as one
line naming the connection and the offset in that connection's stream::

    problem: connection 3 (tcp 127.0.0.1:40112) offset 17: GS v 0: m=9 x=1 y=1: ...

A client sending garbage for hours must not flood the terminal, so each
connection gets at most ``per_connection`` lines; past that its problems are
counted and the count is told when it closes. Nothing is kept: the server
runs as long as it likes in constant memory, and stops at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from simulator.devices.printer.connections import Connection
from simulator.devices.printer.diagnostics import EscposDiagnostic
from simulator.devices.printer.port import PrinterPort

PER_CONNECTION = 20


class ProblemLog:
    """Writes the printer's problems as they happen (see the module docstring)."""

    def __init__(
        self,
        port: PrinterPort,
        write: Callable[[str], None],
        *,
        per_connection: int = PER_CONNECTION,
    ) -> None:
        self.port = port
        self.write = write
        self.per_connection = per_connection
        self.problems = 0  # every problem, shown or not
        self.shown = 0
        self._lock = threading.Lock()
        self._unattached = Connection(0, "no connection")  # in-process feeds
        port.printer.on_diagnostic.append(self.diagnostic)
        port.on_connection_closed.append(self.closed)

    def diagnostic(self, diagnostic: EscposDiagnostic) -> None:
        """An ``on_diagnostic`` hook: locate the problem and tell it (or count it)."""
        current = self.port.current
        if current is not None and current.problems_shown >= self.per_connection:
            with self._lock:  # a flood from the connection feeding now: count it, cheaply
                self.problems += 1
                current.problems += 1
                first_hidden = current.problems == current.problems_shown + 1
            if first_hidden:
                self.write(
                    f"problem: {current.name}: more than {self.per_connection} problems; "
                    "the rest are counted and told when it closes"
                )
            return
        located = self.port.locate(diagnostic.offset) if diagnostic.offset is not None else None
        if located is not None:
            connection = located.connection
            where = f"{connection.name} offset {located.offset}"
        else:
            connection = self.port.current or self._unattached
            where = connection.name if connection.id else "printer"
            if diagnostic.offset is not None:
                where += f" stream offset {diagnostic.offset}"
        what = diagnostic.problem
        if diagnostic.command:
            what = f"{diagnostic.command}: {what}"
        with self._lock:
            self.problems += 1
            connection.problems += 1
            if connection.problems_shown < self.per_connection:
                connection.problems_shown += 1
                self.shown += 1
                self.write(f"problem: {where}: {what}")

    def closed(self, connection: Connection) -> None:
        """An ``on_connection_closed`` hook: the count of what was not shown."""
        hidden = connection.problems - connection.problems_shown
        if hidden:
            self.write(
                f"problem: {connection.name} closed after {connection.bytes_in} byte(s): "
                f"{connection.problems} problem(s), {hidden} not shown"
            )

    def server_error(self, message: str) -> None:
        """An ``on_error`` hook of a TCP or pty server (resets, idle timeouts ...)."""
        self.write(f"note: {message}")

    def summary(self) -> str:
        hidden = self.problems - self.shown
        return f"{self.problems} problem(s)" + (f" ({hidden} not shown)" if hidden else "")
