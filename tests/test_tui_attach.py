"""``possim tui --attach URL``: the TUI follows a served shop live over its API.

A served shop (in this process, on loopback, with a token) and the attached app in
Textual's test harness; the test plays the cashier app (POST /v1/intent) and the
cardholder through the API, as another process would, and waits -- with a deadline,
polling the app as a person looks at the screen -- until the app shows each step.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from process_helpers import DEADLINE
from serve_helpers import ShopClient
from textual.pilot import Pilot

from simulator.serve.server import ServedShop, ServeOptions
from simulator.terminal.config import TerminalConfig
from simulator.tui.attached import AttachedApp, event_line

TOKEN = "s3cret"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedShop]:
    options = ServeOptions(port=0, token=TOKEN)
    with ServedShop(TerminalConfig.load(), tmp_path, options, lambda line: None) as shop:
        yield shop


async def shows(pilot: Pilot[None], what: str, ready: Callable[[], bool]) -> None:
    end = time.monotonic() + DEADLINE
    while not ready():
        assert time.monotonic() < end, f"the attached TUI never showed {what}"
        await pilot.pause(0.05)


def sale_intent(client: ShopClient) -> dict[str, Any]:
    extras = {"msg_tp": "0200", "pay_tp": "0", "proc_tp": "00", "proc_cd": "000000",
              "amt": "12.34", "order_no": "ATTACH01", "appid": "com.possim.cashier",
              "time_stamp": "20260115103000"}  # fmt: skip
    return {"component": client.get("/v1/shop")["component"], "extras": extras}


def test_the_attached_tui_follows_a_card_sale_of_a_served_shop(served: ServedShop) -> None:
    asyncio.run(follow_a_sale(served))


async def follow_a_sale(served: ServedShop) -> None:
    client = ShopClient(served.url, token=TOKEN)
    app = AttachedApp(served.url, TOKEN)
    async with app.run_test(size=(140, 45)) as pilot:
        await shows(pilot, "the connection", lambda: app.connected)
        assert "newland" in app.title
        answers: list[Any] = []
        paying = threading.Thread(
            target=lambda: answers.append(
                client.request("POST", "/v1/intent", sale_intent(client))
            ),
            daemon=True,
        )
        paying.start()
        await shows(
            pilot,
            "the present_card screen",
            lambda: app.state is not None and app.state["screen"]["id"] == "present_card",
        )
        # The cardholder, through the API, from another thread (it waits on the shop).
        cardholder = threading.Thread(
            target=client.pay_by_card, args=("unionpay_debit", "683915"), daemon=True
        )
        cardholder.start()
        await shows(pilot, "both receipts", lambda: len(app.receipt_texts) == 2)
        assert all("621483******3655" in text for text in app.receipt_texts)
        await shows(
            pilot, "the spoken result", lambda: any("收款成功" in line for line in app.event_lines)
        )
        cardholder.join(DEADLINE)
        paying.join(DEADLINE)
        assert answers and answers[0][0] == 200 and answers[0][1]["result_code"] == "RESULT_OK"
        await shows(
            pilot, "the end of the sale", lambda: app.state is not None and not app.state["busy"]
        )
        # Every event the shop published, in order, each once; the PIN in none of them.
        events = client.get("/v1/events?after=0")
        await shows(pilot, "the last event", lambda: app.seen == events[-1]["seq"])
        assert app.event_lines == [event_line(event) for event in events]
        assert not any("683915" in line for line in app.event_lines)


def test_the_attached_tui_says_when_the_shop_wants_its_token(served: ServedShop) -> None:
    async def attach_without_token() -> None:
        app = AttachedApp(served.url)
        async with app.run_test(size=(140, 45)) as pilot:
            await shows(pilot, "the refusal", lambda: bool(app.problems))
            assert not app.connected
            assert "401" in app.problems[-1] and "needs its token" in app.problems[-1]

    asyncio.run(attach_without_token())
