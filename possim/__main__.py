# PYTHON_ARGCOMPLETE_OK  (argcomplete's global completion looks for this line)
"""The ``possim`` command (and ``python -m possim``).

Checks that possim's packages are its own before importing the command line:
a user's ``simulator/`` first on ``sys.path``, or another distribution's
``drivers`` installed over possim's, is reported in one line (exit status 2)
instead of an ImportError traceback from deep inside.
"""

from __future__ import annotations

import sys


def main() -> int:
    from possim.guard import problem

    found = problem()
    if found is not None:
        print(found, file=sys.stderr)
        return 2
    from simulator.cli import main as command_line

    return command_line()


if __name__ == "__main__":
    sys.exit(main())
