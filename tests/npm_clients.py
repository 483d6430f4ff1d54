"""The npm ESC/POS clients, run with node, for tests that check possim against them.

tests/clients/npm/package.json pins receiptline, @point-of-sale/receipt-printer-encoder,
esc-pos-encoder and node-thermal-printer (test-only; ``npm ci`` in that folder
installs them into its git-ignored node_modules, as ``.ci/run`` does).
tests/clients/npm/streams.mjs turns requests into the clients' byte streams and,
where a client renders its own output, that rendering.

Tests using them carry :data:`NEEDS_CLIENTS`: without node or the installed
packages they skip -- or fail under POSSIM_REQUIRE_SYSTEM=1, like every system
package (tests/conftest.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

NPM = Path(__file__).parent / "clients" / "npm"
NEEDS_CLIENTS = [
    pytest.mark.system_package("node"),
    pytest.mark.system_package(
        "the npm clients (npm ci in tests/clients/npm)",
        path="tests/clients/npm/node_modules/.package-lock.json",
    ),
]


def run_clients(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One result per request (see streams.mjs), from one node process."""
    done = subprocess.run(
        [shutil.which("node") or "node", str(NPM / "streams.mjs")],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def stream(result: dict[str, Any]) -> bytes:
    return bytes.fromhex(result["hex"])
