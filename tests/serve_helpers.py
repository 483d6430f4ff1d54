"""A served shop (``possim serve``) for tests: started as a user starts it, and a small
HTTP client that plays the cardholder through its hands API (stdlib only).

Waits poll the shop's state over HTTP with a generous deadline: a person at the
counter looks at the screen too.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from process_helpers import DEADLINE, Command, possim, start_like_a_background_job

LISTENING = r"listening on (http://127\.0\.0\.1:\d+)"


@contextmanager
def served_shop(tmp_path: Path, *args: str) -> Iterator[tuple[Command, ShopClient]]:
    """``possim serve --port 0`` in the background; its output and a client for it."""
    command = start_like_a_background_job(
        possim("serve", "--port", "0", "--workdir", str(tmp_path / "shop"), *args),
        cwd=tmp_path,
    )
    try:
        url = command.wait_for(LISTENING).group(1)
        yield command, ShopClient(url)
        command.interrupt()
    finally:
        command.stop()


class ShopClient:
    """JSON over HTTP to a served shop."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url
        self.token = token

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=DEADLINE) as response:
                raw = response.read()
                status = response.status
                kind = response.headers.get_content_type()
        except urllib.error.HTTPError as error:
            raw, status, kind = error.read(), error.code, error.headers.get_content_type()
        return status, json.loads(raw) if kind == "application/json" else raw

    def get(self, path: str) -> Any:
        status, body = self.request("GET", path)
        assert status == 200, (path, status, body)
        return body

    def act(self, hand: str, **body: Any) -> Any:
        status, answer = self.request("POST", f"/v1/hands/{hand}", body)
        assert status == 200, (hand, status, answer)
        return answer["result"]

    def wait_for(self, what: str, ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The shop's state once ``ready`` holds; fails after DEADLINE naming ``what``."""
        end = time.monotonic() + DEADLINE
        while True:
            state: dict[str, Any] = self.get("/v1/view/state")
            if ready(state):
                return state
            if time.monotonic() > end:
                raise AssertionError(f"no {what} within {DEADLINE} s; the shop shows {state}")
            time.sleep(0.05)  # a person looking at the screen again

    def wait_for_screen(self, screen: str) -> dict[str, Any]:
        return self.wait_for(f"{screen} screen", lambda state: state["screen"]["id"] == screen)

    def pay_by_card(self, card: str, pin: str) -> None:
        """The cardholder: insert when asked, type the PIN, take the card when told."""
        self.wait_for_screen("present_card")
        self.act("insert_card", card=card)
        self.wait_for("PIN prompt", lambda state: state["awaiting_pin"])
        assert self.act("type_pin", pin=pin) is True
        self.wait_for_screen("remove_card")
        assert self.act("remove_card") is True


def event_lines(command: Command, pattern: str) -> list[str]:
    return [line for line in command.lines if re.search(pattern, line)]
