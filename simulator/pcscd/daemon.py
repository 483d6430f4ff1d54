"""Starting and stopping the private pcscd: its namespaces, its vpcd reader.conf, one per process.

:meth:`PrivatePcscd.start` writes a ``reader.conf`` naming vsmartcard's vpcd
driver in a temp folder and runs, under ``unshare --mount --net``, a shell
that brings up the namespace's loopback, bind-mounts a private folder on
``/run/pcscd`` (pcscd's socket path is fixed) and *becomes* ``pcscd -f``
(exec, so the child's pid is pcscd's). It waits for the socket and for the
vpcd readers (pcscd's own notification, no polling), then points this
process's libpcsclite at the socket (``PCSCLITE_CSOCK_NAME``). In the main
thread, ``setpriv --pdeathsig`` makes pcscd go when this process goes, even on
``kill -9``. What pcscd printed (``POSSIM_PCSCD_DEBUG=1``: with ``-d``) goes to
this module's logger and into every :class:`PcscdError` about it.

libpcsclite reads ``PCSCLITE_CSOCK_NAME`` once per process, at its first
PC/SC call, so a process can use one pcscd only: a second ``start()`` in the
same process is refused, and :func:`shared_private_pcscd` starts one per
process that every simulation in it shares (stopped at exit).
"""

from __future__ import annotations

import atexit
import collections
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

from drivers.pcsc_card_reader import establish_context, list_readers, load_scard
from simulator.pcscd import namespace
from simulator.pcscd.errors import PcscdError
from simulator.pcscd.requirements import find_program, find_vpcd_driver, missing_requirements
from simulator.pcscd.slots import (
    PICC_PORT,
    PICC_READER_NAME,
    READER_NAME,
    SLOTS,
    VPCD_PORT,
    SlotPool,
    VpcdSlot,
    picc_readers,
    slots_of,
    vpcd_readers,
)

log = logging.getLogger(__name__)

SOCKET_ENV = "PCSCLITE_CSOCK_NAME"
# POSSIM_PCSCD_DEBUG=1 runs the private pcscd with -d; its log goes to this
# module's logger at DEBUG level (and into error messages).
DEBUG_ENV = "POSSIM_PCSCD_DEBUG"


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
        self._pool = SlotPool()

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
        driver = find_vpcd_driver()
        assert driver is not None  # missing_requirements() said so otherwise
        (root / "conf" / "vpcd").write_text(
            _reader_conf(READER_NAME, VPCD_PORT, driver), encoding="ascii"
        )
        # The PICC side: vpcd keeps its slots in one static table indexed by slot
        # number, so a second entry on the same library would share the first one's
        # slots; a copy of the library (dlopen: its own statics) gets its own.
        (root / "lib").mkdir()
        picc_driver = root / "lib" / "libifdvpcd-picc.so"
        shutil.copyfile(driver, picc_driver)
        (root / "conf" / "vpcd-picc").write_text(
            _reader_conf(PICC_READER_NAME, PICC_PORT, str(picc_driver)), encoding="ascii"
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
            str(root / "run"), str(find_program("pcscd")), str(root / "conf"),
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
            self._pool.fill(self._await_readers())
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
                names = list_readers(scard, context)
                readers, piccs = vpcd_readers(names), picc_readers(names)
                if len(readers) >= SLOTS and len(piccs) >= SLOTS:
                    return slots_of(readers, piccs)
                if not self.running:
                    raise self._failed("it exited before listing the vpcd readers")
                if time.monotonic() >= deadline:
                    raise self._failed(
                        f"the vpcd readers did not appear within {self._start_timeout:g} s "
                        f"(readers: {names})"
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

    # -- slots and the card side (slots.py, namespace.py) ----------------------------------------

    @property
    def slots(self) -> list[VpcdSlot]:
        """Every card slot of this pcscd (empty until started)."""
        return self._pool.slots

    def acquire_slot(self) -> VpcdSlot:
        """A slot nobody else in this process uses; give it back with :meth:`release_slot`."""
        return self._pool.acquire()

    def release_slot(self, slot: VpcdSlot) -> None:
        self._pool.release(slot)

    def connect_vpcd(self, port: int, timeout: float = 2.0) -> socket.socket:
        """A TCP connection to vpcd's ``port`` inside pcscd's network namespace."""
        return namespace.connect_inside(self.pid, port, timeout)

    def namespace_command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside pcscd's network namespace (e.g. vsmartcard's ``vicc``)."""
        return namespace.command_inside(self.pid, argv)


def _reader_conf(name: str, port: int, driver: str) -> str:
    """A vpcd entry of pcscd's reader.conf: its cards connect to ``port`` (and the next)."""
    return (
        f'FRIENDLYNAME "{name}"\n'
        f"DEVICENAME   /dev/null:0x{port:04X}\n"
        f"LIBPATH      {driver}\n"
        f"CHANNELID    0x{port:04X}\n"
    )


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
