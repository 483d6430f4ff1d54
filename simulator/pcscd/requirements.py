"""What a machine needs to run a private pcscd, and where the programs are.

:func:`missing_requirements` lists, one line each with the package that
brings it, what this machine lacks: pcscd, vsmartcard's vpcd reader driver,
``unshare``/``setpriv`` (util-linux), ``ip`` (iproute2), root (the namespaces
need it) and a loadable pyscard. Empty: a private pcscd can start. Tests and
the pytest plugin skip with these lines; :meth:`.daemon.PrivatePcscd.start`
refuses with them.

:func:`find_program` also looks in the sbin folders a user's ``PATH`` often
lacks (pcscd lives in ``/usr/sbin``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from drivers.errors import DriverError
from drivers.pcsc_card_reader import load_scard

VPCD_DRIVER_PATHS = (
    "/usr/lib/pcsc/drivers/serial/libifdvpcd.so",
    "/usr/lib64/pcsc/drivers/serial/libifdvpcd.so",
    "/usr/local/lib/pcsc/drivers/serial/libifdvpcd.so",
)
_SBIN = ("/usr/sbin", "/sbin", "/usr/local/sbin")


def find_program(name: str) -> str | None:
    """The path of program ``name`` on ``PATH`` or in an sbin folder; None if absent."""
    found = shutil.which(name)
    if found is None:
        for folder in _SBIN:
            candidate = Path(folder) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return found


def find_vpcd_driver() -> str | None:
    return next((path for path in VPCD_DRIVER_PATHS if Path(path).is_file()), None)


def missing_requirements() -> list[str]:
    """What this machine lacks to run a private pcscd; empty when it can."""
    problems: list[str] = []
    if find_program("pcscd") is None:
        problems.append("pcscd is not installed (apt-get install pcscd)")
    if find_vpcd_driver() is None:
        problems.append(
            "vsmartcard's vpcd reader driver is not installed (apt-get install vsmartcard-vpcd; "
            f"looked for {', '.join(VPCD_DRIVER_PATHS)})"
        )
    for tool, package in (("unshare", "util-linux"), ("setpriv", "util-linux"), ("ip", "iproute2")):
        if find_program(tool) is None:
            problems.append(f"{tool} is not installed (apt-get install {package})")
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        problems.append(
            "not running as root: the private pcscd runs in its own mount and network "
            "namespace (unshare), which needs root; without it, serve the card to the "
            "system pcscd with `possim card serve`"
        )
    try:
        load_scard()
    except DriverError as exc:
        problems.append(str(exc))
    return problems
