"""A private pcscd for the simulation: possim's virtual cards on the real PC/SC stack.

:class:`PrivatePcscd` runs its own ``pcscd`` with vsmartcard's vpcd reader
driver, so the terminal's ``pcsc://`` driver, pcsc-lite and vpcd all run for
real while the card is :class:`~simulator.devices.card.VirtualCard`:

* **its own mount namespace**: pcscd's socket path is fixed at
  ``/run/pcscd/pcscd.comm``; a private ``/run/pcscd`` (a bind mount of a temp
  folder, seen only by that pcscd) lets it run next to the system's pcscd, and
  clients find it through ``PCSCLITE_CSOCK_NAME``;
* **its own network namespace**: vpcd listens for the card on *every*
  interface (it binds INADDR_ANY). In a namespace holding only its own
  loopback, nothing outside can reach that port; possim's card connects from
  a thread that joins the namespace just long enough to open its socket
  (:meth:`PrivatePcscd.connect_vpcd`).

Why vpcd listens and the card connects, not the other way round: vpcd has a
"reversed" mode (``DEVICENAME host:port`` makes it connect to the card), but
the vsmartcard 3.3 build in Debian/Ubuntu treats a lost connection in that
mode as a listening socket ``-1`` and pcscd aborts (``bit out of range 0 -
FD_SETSIZE``) on the next poll. A card that comes and goes drops the link, so
only the forward mode can model insertion and removal.

Both namespaces need root (``unshare``). ``PCSCLITE_CSOCK_NAME`` is read by
libpcsclite once per process, at its first PC/SC call, so a process can use
only one pcscd: :func:`shared_private_pcscd` starts one per process and every
simulation in it shares it (it has :data:`SLOTS` card slots).
"""

from __future__ import annotations

import atexit
import collections
import ctypes
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

from drivers.errors import DriverError
from drivers.pcsc_card_reader import establish_context, list_readers, load_scard
from simulator.errors import SimulatorError

log = logging.getLogger(__name__)

SOCKET_ENV = "PCSCLITE_CSOCK_NAME"
# POSSIM_PCSCD_DEBUG=1 runs the private pcscd with -d; its log goes to this
# module's logger at DEBUG level (and into error messages).
DEBUG_ENV = "POSSIM_PCSCD_DEBUG"
VPCD_DRIVER_PATHS = (
    "/usr/lib/pcsc/drivers/serial/libifdvpcd.so",
    "/usr/lib64/pcsc/drivers/serial/libifdvpcd.so",
    "/usr/local/lib/pcsc/drivers/serial/libifdvpcd.so",
)
VPCD_PORT = 35963  # vpcd's default; private to the namespace, so never in conflict
READER_NAME = "possim vpcd"
SLOTS = 2  # vpcd opens two slots per reader.conf entry: ports VPCD_PORT and VPCD_PORT + 1
_CLONE_NEWNET = 0x40000000
_SBIN = ("/usr/sbin", "/sbin", "/usr/local/sbin")


class PcscdError(SimulatorError):
    """The private pcscd cannot be started or used; the message says why."""


@attrs.frozen
class VpcdSlot:
    """One vpcd card slot: the reader name pcscd shows and the port the card connects to."""

    reader: str
    port: int


def _program(name: str) -> str | None:
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
    if _program("pcscd") is None:
        problems.append("pcscd is not installed (apt-get install pcscd)")
    if find_vpcd_driver() is None:
        problems.append(
            "vsmartcard's vpcd reader driver is not installed (apt-get install vsmartcard-vpcd; "
            f"looked for {', '.join(VPCD_DRIVER_PATHS)})"
        )
    for tool, package in (("unshare", "util-linux"), ("setpriv", "util-linux"), ("ip", "iproute2")):
        if _program(tool) is None:
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


class PrivatePcscd:
    """pcscd + vpcd in private namespaces; a context manager.

    Entering it sets ``PCSCLITE_CSOCK_NAME`` for this process. That must happen
    before the process's first PC/SC call (libpcsclite reads the variable once
    and keeps the socket name for good), which is why a process should start at
    most one of these -- use :func:`shared_private_pcscd`.
    """

    def __init__(self, *, start_timeout: float = 10.0) -> None:
        self._start_timeout = start_timeout
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=400)
        self._stderr_thread: threading.Thread | None = None
        self._slots_lock = threading.Lock()
        self._free: list[VpcdSlot] = []
        self.slots: list[VpcdSlot] = []

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def socket_path(self) -> Path:
        if self._folder is None:
            raise PcscdError("the private pcscd is not started")
        return Path(self._folder.name) / "run" / "pcscd.comm"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise PcscdError("the private pcscd is not started")
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> PrivatePcscd:
        problems = missing_requirements()
        if problems:
            raise PcscdError("cannot start a private pcscd: " + "; ".join(problems))
        if "socket" in _CLAIMED:
            raise PcscdError(
                f"this process already used the pcscd at {_CLAIMED['socket']}: libpcsclite "
                f"reads {SOCKET_ENV} once per process, so start one private pcscd per process "
                "(shared_private_pcscd())"
            )
        self._folder = tempfile.TemporaryDirectory(prefix="possim-pcscd-")
        root = Path(self._folder.name)
        (root / "run").mkdir()
        (root / "conf").mkdir()
        (root / "conf" / "vpcd").write_text(
            f'FRIENDLYNAME "{READER_NAME}"\n'
            f"DEVICENAME   /dev/null:0x{VPCD_PORT:04X}\n"
            f"LIBPATH      {find_vpcd_driver()}\n"
            f"CHANNELID    0x{VPCD_PORT:04X}\n",
            encoding="ascii",
        )
        # The namespace set-up runs in the child's shell; every step is checked,
        # and the last one *becomes* pcscd (exec), so our Popen pid is pcscd's.
        script = (
            'ip link set lo up && mkdir -p /run/pcscd && mount --bind "$1" /run/pcscd '
            '&& exec "$2" -f -c "$3" $4'
        )
        command = [
            "unshare", "--mount", "--net", "--propagation", "private",
            "sh", "-c", script, "possim-pcscd",
            str(root / "run"), str(_program("pcscd")), str(root / "conf"),
            "-d" if os.environ.get(DEBUG_ENV) == "1" else "",
        ]  # fmt: skip
        if threading.current_thread() is threading.main_thread():
            # pcscd goes when we go, even on kill -9. (The death signal follows
            # the thread that forked, so only the main thread may ask for it.)
            command = ["setpriv", "--pdeathsig", "TERM", *command]
        self._process = subprocess.Popen(
            # pcscd -f logs to stdout; errors from sh/unshare/mount come on stderr.
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._stderr_thread = threading.Thread(
            target=self._collect_stderr, name="pcscd-stderr", daemon=True
        )
        self._stderr_thread.start()
        try:
            self._await_socket()
            os.environ[SOCKET_ENV] = str(self.socket_path)
            _CLAIMED["socket"] = str(self.socket_path)
            self.slots = self._await_readers()
            self._free = list(self.slots)
        except BaseException:
            self.stop()
            raise
        log.info("private pcscd %d on %s: %s", self.pid, self.socket_path, self.slots)
        return self

    def _collect_stderr(self) -> None:
        process = self._process
        if process is None or process.stdout is None:
            return
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            self._stderr.append(line)
            log.debug("pcscd: %s", line)

    def stderr_text(self) -> str:
        return "\n".join(self._stderr)

    def _failed(self, what: str) -> PcscdError:
        code = self._process.poll() if self._process is not None else None
        status = f"pcscd exited with status {code}" if code is not None else "pcscd is running"
        output = self.stderr_text().strip()
        return PcscdError(f"private pcscd: {what} ({status})" + (f":\n{output}" if output else ""))

    def _await_socket(self) -> None:
        process = self._process
        assert process is not None
        deadline = time.monotonic() + self._start_timeout
        while not self.socket_path.exists():
            if time.monotonic() >= deadline:
                raise self._failed(f"no socket after {self._start_timeout:g} s")
            try:
                process.wait(0.01)  # doubles as the poll interval
            except subprocess.TimeoutExpired:
                continue
            if self._stderr_thread is not None:
                self._stderr_thread.join(1.0)
            raise self._failed("it did not start")

    def _await_readers(self) -> list[VpcdSlot]:
        scard = load_scard()
        context = establish_context(scard)
        try:
            deadline = time.monotonic() + self._start_timeout
            while True:
                readers = sorted(
                    name for name in list_readers(scard, context) if name.startswith(READER_NAME)
                )
                if len(readers) >= SLOTS:
                    return [
                        VpcdSlot(name, VPCD_PORT + index)
                        for index, name in enumerate(readers[:SLOTS])
                    ]
                if not self.running:
                    raise self._failed("it exited before listing the vpcd readers")
                if time.monotonic() >= deadline:
                    raise self._failed(
                        f"the vpcd readers did not appear within {self._start_timeout:g} s "
                        f"(readers: {readers})"
                    )
                # Blocks in pcscd until its reader list changes (or 100 ms pass).
                scard.SCardGetStatusChange(
                    context, 100, [("\\\\?PnP?\\Notification", scard.SCARD_STATE_UNAWARE)]
                )
        finally:
            scard.SCardReleaseContext(context)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
            if process.returncode not in (0, -15, None):
                log.warning(
                    "private pcscd exited with %s: %s", process.returncode, self.stderr_text()
                )
        if self._stderr_thread is not None:
            self._stderr_thread.join(2.0)
            self._stderr_thread = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def __enter__(self) -> PrivatePcscd:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- slots and the card side -----------------------------------------------------------------

    def acquire_slot(self) -> VpcdSlot:
        """A slot nobody else in this process uses; give it back with :meth:`release_slot`."""
        with self._slots_lock:
            if not self._free:
                raise PcscdError(
                    f"all {SLOTS} vpcd slots of the private pcscd are in use: close a "
                    "simulation with card_transport='pcsc' before starting another"
                )
            return self._free.pop(0)

    def release_slot(self, slot: VpcdSlot) -> None:
        with self._slots_lock:
            if slot in self.slots and slot not in self._free:
                self._free.append(slot)
                self._free.sort(key=lambda s: s.port)

    def connect_vpcd(self, port: int, timeout: float = 2.0) -> socket.socket:
        """A TCP connection to vpcd's ``port`` inside pcscd's network namespace.

        ``setns`` moves only the calling thread, so a short-lived thread joins
        the namespace, connects, and ends; the socket keeps its namespace.
        """
        result: list[socket.socket | BaseException] = []

        def join_and_connect() -> None:
            try:
                _enter_network_namespace(self.pid)
                result.append(socket.create_connection(("127.0.0.1", port), timeout=timeout))
            except BaseException as exc:
                result.append(exc)

        thread = threading.Thread(target=join_and_connect, name="vpcd-connect", daemon=True)
        thread.start()
        thread.join()
        outcome = result[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def namespace_command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside pcscd's network namespace (e.g. vsmartcard's ``vicc``)."""
        return [_program("nsenter") or "nsenter", f"--net=/proc/{self.pid}/ns/net", *argv]


# Debian's python3-virtualsmartcard (vsmartcard 0.8) installs the package one
# level too deep (.../site-packages/virtualsmartcard/virtualsmartcard/), outside
# python3's path, so `vicc` fails with "No module named 'virtualsmartcard'"; and
# it imports PyCryptodome as `Crypto`, which Debian ships only as `Cryptodome`
# (python3-pycryptodome) and does not declare. vicc_command() works around both.
_VICC_PACKAGE_PARENTS = (
    "/usr/lib/python3/site-packages/virtualsmartcard",
    "/usr/local/lib/python3/site-packages/virtualsmartcard",
)


def vicc_command(port: int, card_type: str = "iso7816") -> tuple[list[str], dict[str, str]]:
    """(argv, environment) to run vsmartcard's own card ``vicc`` against vpcd's ``port``.

    Raises :class:`PcscdError` when vicc is not installed.
    """
    vicc = _program("vicc")
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


def _enter_network_namespace(pid: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns into pcscd's network namespace: {os.strerror(errno)}")
    finally:
        os.close(fd)


def wait_for_reader_state(reader: str, present: bool, timeout: float) -> bool:
    """Block (real time) until pcscd reports ``reader`` with or without a card.

    True once it does, False after ``timeout`` seconds. Waits inside pcscd
    (``SCardGetStatusChange``), so it wakes the moment pcscd notices.
    """
    return watch_reader(reader, present, timeout) is not None


def watch_reader(reader: str, present: bool, timeout: float, *, newer_than: int = -1) -> int | None:
    """Like :func:`wait_for_reader_state`, returning pcscd's event count for the reader.

    pcscd counts the insertions and removals its poller sees (the high 16 bits
    of the reader state). ``newer_than`` makes the wait last until the count
    has moved past it: an application disconnecting from a card that has just
    gone can mark the reader empty *before* the poller noticed the removal,
    and a card put back before the poller's next look would then never be
    reported at all.
    """
    scard = load_scard()
    context = establish_context(scard)
    try:
        deadline = time.monotonic() + timeout
        states: list[Any] = [(reader, scard.SCARD_STATE_UNAWARE)]
        wait_ms = 0
        while True:
            hr, states = scard.SCardGetStatusChange(context, wait_ms, states)
            if hr & 0xFFFFFFFF and hr & 0xFFFFFFFF != scard.SCARD_E_TIMEOUT & 0xFFFFFFFF:
                raise PcscdError(
                    f"cannot watch {reader!r}: {scard.SCardGetErrorMessage(hr)} (0x{hr:08X})"
                )
            state = int(states[0][1])
            count = (state >> 16) & 0xFFFF
            if bool(state & scard.SCARD_STATE_PRESENT) == present and count > newer_than:
                return count
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            wait_ms = max(1, int(remaining * 1000))
            states = [(name, int(bits) & ~scard.SCARD_STATE_CHANGED) for name, bits, _ in states]
    finally:
        scard.SCardReleaseContext(context)


_CLAIMED: dict[str, str] = {}
_shared: PrivatePcscd | None = None
_shared_lock = threading.Lock()


def shared_private_pcscd() -> PrivatePcscd:
    """This process's private pcscd, started on first use and stopped at exit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            daemon = PrivatePcscd().start()
            atexit.register(daemon.stop)
            _shared = daemon
        elif not _shared.running:
            raise PcscdError(
                f"this process's private pcscd stopped: {_shared.stderr_text() or 'no output'}; "
                f"libpcsclite reads {SOCKET_ENV} once per process, so start a new process"
            )
        return _shared
