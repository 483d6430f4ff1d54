"""The per-run machine-readable trace: every event as one JSON line."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TextIO

from simulator.events.bus import Event


class JsonlTranscript:
    """Writes every event as one JSON line: the per-run machine-readable trace."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path) -> JsonlTranscript:
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(path.open("w", encoding="utf-8"))

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._stream.write(json.dumps(event.to_json(), ensure_ascii=False) + "\n")
            self._stream.flush()

    def close(self) -> None:
        self._stream.close()
