"""Receipt printers.

The terminal describes what to print as a :class:`PrintDocument` (styled text
lines, images, QR codes, barcodes, feeds, cuts); a printer driver turns it into its
device's language -- ESC/POS for every printer possim supports -- and reports
the printer's state (paper, cover, online) as a :class:`PrinterStatus`.

The driver for ESC/POS printers is :mod:`drivers.printer.escpos` (with
:mod:`.prepare`, what a document's items become); :mod:`.transports` opens one
by URL (``usb://``, ``serial://``, ``tcp://``, ``file://``) and registers those
schemes; :mod:`.profile` describes a printer model (paper width, fonts, code
pages).
"""

from __future__ import annotations

import abc
import enum
from pathlib import Path
from typing import ClassVar

import attrs
from PIL import Image as PILImage


class Align(str, enum.Enum):
    LEFT = "left"
    CENTER = "center"
    RIGHT = "right"


@attrs.frozen
class TextLine:
    text: str
    align: Align = Align.LEFT
    bold: bool = False
    double_width: bool = False
    double_height: bool = False


@attrs.frozen
class Image:
    """A picture (a logo): a file path or a PIL image, printed as a 1-bit raster.

    Drivers convert it to black and white and shrink it to the printer's dot
    width, so any picture prints without being cut off at the right edge.
    Equal when the sources are (PIL images compare pixels); one holding a PIL
    image cannot be hashed, as PIL images cannot.
    """

    source: str | Path | PILImage.Image
    align: Align = Align.CENTER

    @property
    def name(self) -> str:
        """What the picture is, for logs: its file name, or its size in dots."""
        if isinstance(self.source, PILImage.Image):
            return f"{self.source.width}x{self.source.height}"
        return Path(self.source).name


@attrs.frozen
class QrCode:
    data: str
    size: int = 6  # module size in dots
    align: Align = Align.CENTER


@attrs.frozen
class Barcode:
    data: str
    symbology: str = "CODE128"
    align: Align = Align.CENTER


@attrs.frozen
class Feed:
    lines: int = 1


@attrs.frozen
class Cut:
    partial: bool = False


PrintItem = TextLine | Image | QrCode | Barcode | Feed | Cut


@attrs.frozen
class PrintDocument:
    title: str  # what the job is, e.g. "sale receipt (merchant copy)"
    items: tuple[PrintItem, ...]

    def plain_text(self) -> str:
        """The words on the paper, one line each (for logs and expectations)."""
        lines = []
        for item in self.items:
            if isinstance(item, TextLine):
                lines.append(item.text)
            elif isinstance(item, Image):
                lines.append(f"[IMAGE {item.name}]")
            elif isinstance(item, QrCode):
                lines.append(f"[QR {item.data}]")
            elif isinstance(item, Barcode):
                lines.append(f"[BARCODE {item.data}]")
        return "\n".join(lines)


@attrs.frozen
class PrinterStatus:
    online: bool = True
    paper_present: bool = True
    paper_near_end: bool = False
    cover_open: bool = False

    @property
    def ready(self) -> bool:
        return self.online and self.paper_present and not self.cover_open

    def problem(self) -> str | None:
        if not self.online:
            return "printer offline"
        if self.cover_open:
            return "printer cover open"
        if not self.paper_present:
            return "printer out of paper"
        return None


class Printer(abc.ABC):
    # The name configurations, traces and --pos-<device> options use (drivers.kinds).
    device_kind: ClassVar[str] = "printer"
    paper_width_chars: int = 32

    @abc.abstractmethod
    def print_document(self, document: PrintDocument) -> None:
        """Print and cut; raises ``PrinterError`` when the printer cannot."""

    @abc.abstractmethod
    def status(self) -> PrinterStatus:
        """Ask the printer for its real-time status."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the device."""
