"""The speaker: what the terminal said, one utterance a line."""

from __future__ import annotations

from textual.widgets import Static


class SpeakerLog(Static):
    DEFAULT_CSS = """
    SpeakerLog { border: round $secondary; height: auto; min-height: 3; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.border_title = "speaker"
        self.utterances: list[str] = []

    def say(self, text: str) -> None:
        self.utterances.append(text)
        self.update("\n".join(f"🔊 {line}" for line in self.utterances[-3:]))
