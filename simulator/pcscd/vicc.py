"""vsmartcard's own virtual card, ``vicc``, as a command line that works on Debian.

Debian's python3-virtualsmartcard (vsmartcard 0.8) installs the package one
level too deep (.../site-packages/virtualsmartcard/virtualsmartcard/), outside
python3's path, so ``vicc`` fails with "No module named 'virtualsmartcard'";
and it imports PyCryptodome as ``Crypto``, which Debian ships only as
``Cryptodome`` (python3-pycryptodome) and does not declare.
:func:`vicc_command` works around both: its environment's ``PYTHONPATH``
names the misplaced package and, when needed, a folder whose ``Crypto`` is
``Cryptodome`` (made once per process, removed at exit). Tests and
``possim bench apdu`` run vicc against vpcd as the reference card.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from simulator.pcscd.errors import PcscdError
from simulator.pcscd.requirements import find_program

_VICC_PACKAGE_PARENTS = (
    "/usr/lib/python3/site-packages/virtualsmartcard",
    "/usr/local/lib/python3/site-packages/virtualsmartcard",
)


def vicc_command(port: int, card_type: str = "iso7816") -> tuple[list[str], dict[str, str]]:
    """(argv, environment) to run vsmartcard's own card ``vicc`` against vpcd's ``port``.

    Raises :class:`PcscdError` when vicc is not installed.
    """
    vicc = find_program("vicc")
    if vicc is None:
        raise PcscdError("vicc is not installed (apt-get install vsmartcard-vpicc)")
    env = dict(os.environ)
    extra = [*_vicc_crypto_shim(vicc)]
    extra += [
        parent
        for parent in _VICC_PACKAGE_PARENTS
        if (Path(parent) / "virtualsmartcard" / "VirtualSmartcard.py").is_file()
    ]
    if extra:
        env["PYTHONPATH"] = os.pathsep.join([*extra, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    # /usr/bin/vicc names /usr/bin/python3 itself; a virtualenv on PATH cannot shadow it.
    return [vicc, "--type", card_type, "--hostname", "127.0.0.1", "--port", str(port)], env


_SHIM: list[str] = []
_SHIM_LOCK = threading.Lock()


def _vicc_crypto_shim(vicc: str) -> list[str]:
    """A folder whose ``Crypto`` package is PyCryptodome's ``Cryptodome``, when vicc needs it."""
    with _SHIM_LOCK:
        if _SHIM:
            return _SHIM[1:]
        first = Path(vicc).read_text(encoding="utf-8", errors="replace").split("\n", 1)[0]
        python = first[2:].strip().split()[0] if first.startswith("#!") else "python3"
        probe = (
            "import importlib.util as u; "
            "print(bool(u.find_spec('Crypto')), bool(u.find_spec('Cryptodome')))"
        )
        try:
            answer = subprocess.run(
                [python, "-c", probe], capture_output=True, text=True, timeout=10, check=True
            ).stdout.split()
        except (OSError, subprocess.SubprocessError) as exc:
            raise PcscdError(f"cannot run vicc's interpreter {python}: {exc}") from None
        has_crypto = answer[:1] == ["True"]
        has_cryptodome = answer[1:2] == ["True"]
        _SHIM.append(python)
        if has_crypto:
            return []
        if not has_cryptodome:
            raise PcscdError(
                "vicc needs PyCryptodome, which is not installed (apt-get install "
                "python3-pycryptodome)"
            )
        folder = Path(tempfile.mkdtemp(prefix="possim-vicc-"))
        atexit.register(shutil.rmtree, folder, True)
        (folder / "Crypto").mkdir()
        (folder / "Crypto" / "__init__.py").write_text(
            "import sys\nimport Cryptodome\nsys.modules[__name__] = Cryptodome\n",
            encoding="ascii",
        )
        _SHIM.append(str(folder))
        return _SHIM[1:]
