"""What every possim TUI app does beyond Textual's defaults.

* Screenshots go to a folder that exists, said on screen: Textual saves to
  ``~/Downloads``, which a server or a fresh account does not have (the save
  fails); possim saves into ``possim-screenshots/`` in the folder it was
  started from, creating it.
* In a browser (``possim tui --serve``: textual-serve runs the app with
  Textual's web driver on a pipe), the app ends when its server goes away:
  Textual's web driver stops reading at the end of its input and leaves the
  app running for good (:class:`EndsWithItsServer`).
"""

from __future__ import annotations

from pathlib import Path

from textual import constants
from textual.app import App
from textual.driver import Driver
from textual.drivers.web_driver import WebDriver
from textual.message import Message

SCREENSHOT_DIR = Path("possim-screenshots")
_WEB_DRIVER = "textual.drivers.web_driver:WebDriver"  # what textual-serve asks for


class EndsWithItsServer(WebDriver):
    """Textual's web driver, which asks the app to exit when its input ends (server gone)."""

    def run_input_thread(self) -> None:
        super().run_input_thread()
        if not self.exit_event.is_set():  # the end of the pipe, not the app stopping
            from textual import messages

            exit_app: Message = messages.ExitApp()
            self._app.post_message(exit_app)  # thread-safe


class PossimBaseApp(App[None]):
    def get_driver_class(self) -> type[Driver]:
        if constants.DRIVER == _WEB_DRIVER:
            return EndsWithItsServer
        return super().get_driver_class()

    def deliver_screenshot(
        self,
        filename: str | None = None,
        path: str | None = None,
        time_format: str | None = None,
    ) -> str | None:
        folder = Path(path) if path else SCREENSHOT_DIR.resolve()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.notify(f"cannot create {folder}: {exc.strerror}", severity="error", markup=False)
            return None
        key = super().deliver_screenshot(filename, str(folder), time_format)
        if self.is_web:
            return key  # the browser downloads it
        self.notify(f"screenshot saved in {folder}", title="screenshot", markup=False)
        return key
