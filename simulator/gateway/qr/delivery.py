"""HTTP POSTs for the notifier, each bounded in total time, in lanes per receiver.

An asyncio loop in a daemon thread runs the POSTs (aiohttp's client). Jobs for
one receiver (scheme, host and port of its URL) run one after another in that
receiver's lane, in the order given; lanes run side by side, at most
``max_in_flight`` POSTs at once. So a receiver that answers slowly, or not at
all, delays only its own notifies, and each POST -- connecting, sending,
reading the answer -- ends within ``timeout`` seconds whatever the receiver
does.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import aiohttp
import attrs

MAX_ANSWER = 64 * 1024  # bytes of a receiver's answer that are read
DEFAULT_MAX_IN_FLIGHT = 32

Job = Callable[[], Awaitable[None]]


@attrs.frozen
class Answer:
    status: int | None  # None: no HTTP answer at all
    body: bytes
    problem: str = ""  # why there is no answer


def receiver_of(url: str) -> str:
    """The lane of a URL: its scheme, host and port."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port}"
    except ValueError:
        return url


class Courier:
    def __init__(
        self,
        timeout: float,
        *,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        on_error: Callable[[str], None],
    ) -> None:
        self.timeout = timeout
        self._max_in_flight = max_in_flight
        self._on_error = on_error  # a job failed in a way it did not handle (a bug)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._stopped: asyncio.Event | None = None
        self._lanes: dict[str, deque[Job]] = {}
        self._workers: set[asyncio.Task[None]] = set()

    # -- lifecycle (any thread) ------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="possim-qr-courier", daemon=True
        )
        self._thread.start()
        ready.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """Abandon what is queued and in flight; join the thread."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already ended
            asyncio.run_coroutine_threadsafe(self._wind_down(), loop)
        thread.join(timeout)
        self._thread = None

    def run(self, lane: str, job: Job) -> None:
        """Run ``job`` in ``lane`` after the jobs already there (thread-safe)."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the courier is not started")
        loop.call_soon_threadsafe(self._enqueue, lane, job)

    # -- on the loop -------------------------------------------------------------------

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        """One POST; whatever happens, within ``timeout`` seconds."""
        assert self._session is not None
        try:
            async with self._session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                return Answer(response.status, await _read_at_most(response.content, MAX_ANSWER))
        except asyncio.TimeoutError:
            return Answer(None, b"", f"no answer within {self.timeout:g} s")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return Answer(None, b"", str(exc) or type(exc).__name__)

    def _run(self, ready: threading.Event) -> None:
        asyncio.run(self._main(ready))

    async def _main(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = stopped = asyncio.Event()
        self._slots = asyncio.Semaphore(self._max_in_flight)
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            connector=aiohttp.TCPConnector(limit=self._max_in_flight, force_close=True),
        )
        ready.set()
        try:
            await stopped.wait()
        finally:
            await self._session.close()

    async def _wind_down(self) -> None:
        workers = set(self._workers)
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._lanes.clear()
        if self._stopped is not None:
            self._stopped.set()

    def _enqueue(self, lane: str, job: Job) -> None:
        queue = self._lanes.get(lane)
        if queue is not None:
            queue.append(job)
            return
        self._lanes[lane] = deque([job])
        worker = asyncio.get_running_loop().create_task(self._work(lane))
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)

    async def _work(self, lane: str) -> None:
        queue = self._lanes[lane]
        assert self._slots is not None
        try:
            while queue:
                job = queue.popleft()
                async with self._slots:
                    try:
                        await job()
                    except Exception as exc:  # a bug in the job: say so, go on with the lane
                        self._on_error(f"notify delivery failed: {type(exc).__name__}: {exc}")
        finally:
            if self._lanes.get(lane) is queue:
                del self._lanes[lane]


async def _read_at_most(stream: aiohttp.StreamReader, limit: int) -> bytes:
    data = bytearray()
    while len(data) < limit:
        chunk = await stream.read(limit - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)
