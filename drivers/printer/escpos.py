"""ESC/POS receipt printers through python-escpos.

:class:`EscposPrinter` drives any python-escpos printer object -- ``Usb``,
``Serial``, ``Network``, ``File`` or possim's in-process virtual printer -- and
never knows which one it holds.

A job is rendered with python-escpos's own API (``hw``, ``set``, ``text``,
``image``, ``qr``, barcode, ``print_and_feed``, ``cut``) into an ``escpos.printer.Dummy``
that shares the device's capability profile, then sent to the device in one
write. Rendering errors (a barcode that cannot be encoded, ...) therefore
surface before a single byte reaches the printer, a job is never interleaved
with another one, and a USB printer gets one bulk transfer instead of hundreds.

Chinese text: python-escpos's ``MagicEncode`` sends text containing CJK
ideographs (U+4E00-U+9FA5 only) as raw GB18030 without ``FS &``, and turns
other wide characters (full-width punctuation such as "：", "￥") into "?". So
lines holding wide characters are sent by this driver as GB18030 between
``FS &`` and ``FS .`` with ``FS !`` giving the double-byte font the line's size
(``ESC !`` sizes apply to single-byte characters only). Everything else goes
through ``text()`` and MagicEncode's code-page switching.

Status: ``DLE EOT 1`` (printer), ``DLE EOT 4`` (roll paper sensor; ``GS r 1``
for printers that do not answer it) and, when the printer reports offline,
``DLE EOT 2`` (offline cause). Write-only transports
(``File``, ``Dummy``, a printer that does not answer) cannot tell: ``status()``
then returns a ready status and ``status_known`` is ``False``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from escpos.constants import BARCODE_TYPE_B
from escpos.escpos import Escpos
from escpos.exceptions import Error as EscposLibraryError
from escpos.printer import Dummy
from PIL import Image as PILImage

from drivers.errors import PrinterError
from drivers.printer import (
    Align,
    Barcode,
    Cut,
    Feed,
    Image,
    PrintDocument,
    Printer,
    PrinterStatus,
    PrintItem,
    QrCode,
    TextLine,
    prepare,
)
from drivers.printer.profile import PrinterProfile
from drivers.wire.escpos import (
    DLE_EOT,
    FS_CHINESE_MODE,
    FS_CHINESE_OFF,
    FS_CHINESE_ON,
    GS_R_FIXED_MASK,
    GS_R_PAPER_END,
    GS_R_PAPER_NEAR_END,
    GS_R_PAPER_SENSOR,
    STATUS_BASE,
    STATUS_COVER_OPEN,
    STATUS_OFFLINE,
    STATUS_PAPER_END,
    STATUS_PAPER_NEAR_END,
    STATUS_STOPPED_PAPER_END,
    is_status_byte,
)

CJK_SIZE_UNKNOWN = -1

BARCODE_HEIGHT = 64  # dots (8 mm at 203 dpi)
BARCODE_MODULES = (3, 2)  # module widths tried, widest first (python-escpos allows 2-6)
MAX_FEED = 255

_HINTS = {
    "printer offline": "check that it is switched on, connected and not in an error state",
    "printer cover open": "close the printer cover",
    "printer out of paper": "load a new paper roll",
}


class EscposPrinter(Printer):
    """A :class:`Printer` over any python-escpos ``Escpos`` instance."""

    def __init__(
        self,
        device: Escpos,
        *,
        profile: PrinterProfile | None = None,
        name: str | None = None,
    ) -> None:
        self._device = device
        self._profile = profile
        self.name = name or type(device).__name__
        if profile is not None:
            self.paper_width_chars = profile.chars_per_line
        self._status_known = False
        self._text_style: tuple[object, ...] | None = None
        # While the job holds the printer in Chinese mode (between consecutive
        # lines of wide text): the FS ! size in effect, CJK_SIZE_UNKNOWN after
        # an ESC ! that may have changed it; None outside Chinese mode.
        self._chinese_size: int | None = None
        self._lock = threading.RLock()  # status() runs inside print_document()
        # Jobs are rendered here with python-escpos's API, then sent in one write.
        self._job: Any = Dummy()
        self._job.profile = device.profile
        self._job.magic = type(device.magic)(self._job)
        self._styles: dict[tuple[Align, bool, bool, bool], bytes] = {}  # _style_commands

    @property
    def device(self) -> Escpos:
        return self._device

    @property
    def profile(self) -> PrinterProfile | None:
        return self._profile

    @property
    def status_known(self) -> bool:
        """Whether the last :meth:`status` came from the printer (not assumed)."""
        return self._status_known

    # -- printing -------------------------------------------------------------

    def print_document(self, document: PrintDocument) -> None:
        with self._lock:
            self._check_ready(document, "cannot print")
            data = self._render(document)
            self._send(document, data)
            self._check_ready(document, "while printing")

    def open_cash_drawer(self, pin: int = 2) -> None:
        """Kick the cash drawer connected to the printer (``ESC p``)."""
        with self._lock:
            self._job.clear()
            try:
                self._job.cashdraw(pin)
            except (EscposLibraryError, ValueError) as exc:
                raise PrinterError(f"cannot kick the cash drawer on pin {pin}: {exc}") from exc
            self._write(self._job.output, "the cash drawer kick")

    def _check_ready(self, document: PrintDocument, when: str) -> None:
        status = self.status()
        problem = status.problem()
        if problem is None:
            return
        hint = _HINTS.get(problem, "check the printer")
        if when == "while printing":
            raise PrinterError(
                f"{problem} while printing {document.title!r}: the receipt may be "
                f"incomplete; {hint} and print it again"
            )
        raise PrinterError(f"{problem}: {when} {document.title!r}; {hint} and retry")

    def _render(self, document: PrintDocument) -> bytes:
        job = self._job
        job.clear()
        job.hw("INIT")
        self._text_style = None
        self._chinese_size = None
        # ESC @ reset the printer's code page: make MagicEncode announce it again.
        job.magic.encoding = None
        profile = self._profile
        if profile is not None and profile.supports_cjk and not profile.cjk_needs_fs_ampersand:
            # The printer starts in Chinese mode; leave it so code pages work.
            job._raw(FS_CHINESE_OFF)
        items = document.items
        for number, item in enumerate(items, start=1):
            try:
                if isinstance(item, TextLine):
                    following = items[number] if number < len(items) else None
                    self._render_text(job, item, following)
                else:
                    self._render_item(job, item)
            except (EscposLibraryError, ValueError, TypeError, UnicodeError, OSError) as exc:
                raise PrinterError(
                    f"cannot print {document.title!r}: item {number} ({type(item).__name__}) "
                    f"cannot be encoded for this printer: {exc}"
                ) from exc
        output: bytes = job.output
        job.clear()
        return output

    def _render_item(self, job: Any, item: PrintItem) -> None:
        if isinstance(item, TextLine):
            self._render_text(job, item, None)
            return
        self._text_style = None  # QR codes, barcodes and cuts change modes too
        if isinstance(item, Image):
            self._render_image(job, item)
        elif isinstance(item, QrCode):
            self._render_qr(job, item)
        elif isinstance(item, Barcode):
            self._render_barcode(job, item)
        elif isinstance(item, Feed):
            lines = item.lines
            while lines > 0:
                job.print_and_feed(min(lines, MAX_FEED))
                lines -= MAX_FEED
        elif isinstance(item, Cut):
            job.cut(mode="PART" if item.partial else "FULL")
        else:  # pragma: no cover - PrintItem is a closed union
            raise TypeError(f"unknown print item {item!r}")

    def _style_commands(self, style: tuple[Align, bool, bool, bool]) -> bytes:
        """What python-escpos's ``set()`` sends for a text style (align, bold, double
        width, double height): rendered once per style, not once per line."""
        commands = self._styles.get(style)
        if commands is None:
            align, bold, double_width, double_height = style
            scratch = Dummy()
            scratch.profile = self._job.profile
            scratch.set(
                align=align.value,
                bold=bold,
                double_width=double_width,
                double_height=double_height,
                normal_textsize=not (double_width or double_height),
            )
            commands = self._styles[style] = bytes(scratch.output)
        return commands

    def _wide(self, line: TextLine) -> bool:
        """Whether ``line`` goes out as double-byte text in Chinese mode."""
        encoding = self._profile.cjk_encoding if self._profile is not None else "gb18030"
        return encoding is not None and prepare.text_line(line.text, encoding)[1] is not None

    def _render_text(self, job: Any, line: TextLine, following: PrintItem | None) -> None:
        style = (line.align, line.bold, line.double_width, line.double_height)
        # Only send style commands when the style changes: python-escpos's set()
        # emits half a dozen commands, which on a 9600-baud serial printer shows.
        if style != self._text_style:
            job._raw(self._style_commands(style))
            self._text_style = style
            if self._chinese_size is not None:
                # Chinese-market firmware applies ESC ! sizes to Chinese text too.
                self._chinese_size = CJK_SIZE_UNKNOWN
        encoding = self._profile.cjk_encoding if self._profile is not None else "gb18030"
        text, wide, ascii_line = prepare.text_line(line.text, encoding)
        if wide is not None:
            size = (0x04 if line.double_width else 0) | (0x08 if line.double_height else 0)
            data = wide
            if self._chinese_size != size:
                data = FS_CHINESE_MODE + bytes([size]) + data
                if self._chinese_size is None:
                    data = FS_CHINESE_ON + data
            # Consecutive lines of wide text share one FS & ... FS . stretch;
            # the printer leaves Chinese mode before anything else.
            if isinstance(following, TextLine) and self._wide(following):
                self._chinese_size = size
            else:
                data += FS_CHINESE_OFF
                self._chinese_size = None
            job._raw(data)
            self._text(job, "\n", b"\n")
        else:
            self._text(job, text + "\n", ascii_line)

    @staticmethod
    def _text(job: Any, text: str, ascii_text: bytes | None = None) -> None:
        """``job.text(text)``, with a shortcut for plain ASCII.

        MagicEncode looks at every character to pick a code page. ASCII text
        under a code page already announced needs no switch: MagicEncode would
        send exactly ``text.encode("ascii")`` in one write, so send that (or
        ``ascii_text``, that encoding done beforehand). The first text of a job
        (no code page yet) still goes through MagicEncode, which announces the
        code page with ``ESC t``.
        """
        magic = job.magic
        if magic.encoding is not None and not magic.disabled:
            if ascii_text is not None:
                job._raw(ascii_text)
                return
            if text.isascii():
                job._raw(text.encode("ascii"))
                return
        job.text(text)

    def _render_image(self, job: Any, image: Image) -> None:
        dots = self._profile.dots_per_line if self._profile is not None else None
        # ESC a aligns raster images like text, on every printer; python-escpos's
        # own centring needs the media width in its capability profile instead.
        job.set(align=image.align.value)
        if isinstance(image.source, PILImage.Image):
            job._raw(prepare.raster(prepare.fit_width(prepare.monochrome(image.source), dots)))
        else:
            path = Path(str(image.source))
            try:
                modified = path.stat().st_mtime_ns
            except OSError as exc:
                raise ValueError(f"{image.source}: {exc.strerror}") from exc
            job._raw(prepare.raster_file(path, modified, dots))

    def _render_qr(self, job: Any, qr: QrCode) -> None:
        size = max(1, min(16, qr.size))
        native = self._profile.native_qr if self._profile is not None else True
        job.set(align=qr.align.value)
        if native:
            job.qr(qr.data, native=True, size=size)
        else:
            job.qr(qr.data, native=False, size=size, center=qr.align.value == "center")

    def _render_barcode(self, job: Any, barcode: Barcode) -> None:
        symbology = barcode.symbology.upper()
        if symbology not in BARCODE_TYPE_B:
            known = ", ".join(sorted(BARCODE_TYPE_B))
            raise ValueError(f"barcode symbology {barcode.symbology!r} is not one of {known}")
        code = barcode.data
        module = BARCODE_MODULES[-1]
        if symbology in ("CODE128", "GS1-128"):
            code = prepare.code128_data(code)
            dots = self._profile.dots_per_line if self._profile is not None else None
            if dots is not None:
                fitting = [m for m in BARCODE_MODULES if prepare.code128_width(code, m) <= dots]
                module = fitting[0] if fitting else BARCODE_MODULES[-1]
        if not job.check_barcode(symbology, code):
            raise ValueError(f"{barcode.data!r} is not valid {symbology} data")
        job.set(align=barcode.align.value)
        # Escpos.barcode() picks this same hardware renderer but prints
        # "Using hardware barcode renderer" to stdout on every call.
        job._hw_barcode(
            code,
            symbology,
            height=BARCODE_HEIGHT,
            width=module,
            pos="BELOW",
            font="A",
            align_ct=False,
            function_type="B",
            check=True,
        )

    def _send(self, document: PrintDocument, data: bytes) -> None:
        self._write(data, repr(document.title))

    def _write(self, data: bytes, what: str) -> None:
        try:
            self._device._raw(data)
        except (EscposLibraryError, OSError) as exc:
            raise PrinterError(
                f"sending {what} to printer {self.name} failed: {exc}; check that it is "
                "switched on, connected and not held by another program"
            ) from exc

    # -- status -----------------------------------------------------------------

    def status(self) -> PrinterStatus:
        """Ask the printer (DLE EOT 1, 4 and, when offline, 2)."""
        with self._lock:  # replies must not interleave with another thread's queries
            return self._status()

    def _status(self) -> PrinterStatus:
        printer = self._query(1)
        paper = self._query(4) if printer is not None else None
        if printer is not None and paper is None:
            paper = self._paper_sensor()  # printers without DLE EOT 4 answer GS r 1
        if printer is None or paper is None:
            self._status_known = False
            return PrinterStatus()  # unknown: assume ready (see module docstring)
        cause = self._query(2) if printer & STATUS_OFFLINE else STATUS_BASE
        cause = STATUS_BASE if cause is None else cause
        cover_open = bool(cause & STATUS_COVER_OPEN)
        paper_end = bool(paper & STATUS_PAPER_END) or bool(cause & STATUS_STOPPED_PAPER_END)
        # Offline because of an open cover or paper end is reported as that cause.
        online = not printer & STATUS_OFFLINE or cover_open or paper_end
        self._status_known = True
        return PrinterStatus(
            online=bool(online),
            paper_present=not paper_end,
            paper_near_end=bool(paper & STATUS_PAPER_NEAR_END),
            cover_open=cover_open,
        )

    def _readable(self) -> bool:
        return type(self._device)._read is not Escpos._read

    def _query(self, n: int) -> int | None:
        """The status byte for DLE EOT n, or None when the transport cannot answer."""
        if not self._readable():
            return None
        try:
            reply = self._device.query_status(DLE_EOT + bytes([n]))
        except NotImplementedError:
            return None
        except (EscposLibraryError, OSError) as exc:
            if isinstance(exc, TimeoutError) or type(exc).__name__ == "USBTimeoutError":
                return None
            raise PrinterError(
                f"cannot read the status of printer {self.name} (DLE EOT {n}): {exc}; "
                "check that it is switched on and connected"
            ) from exc
        data = bytes(reply or b"")
        if not data:
            return None
        value = data[-1]
        if not is_status_byte(value):
            raise PrinterError(
                f"printer {self.name} answered {data.hex(' ')} to DLE EOT {n}: not an ESC/POS "
                "status byte (bits 1 and 4 set, 0 and 7 clear); is it an ESC/POS printer "
                "with Automatic Status Back off?"
            )
        return value

    def _paper_sensor(self) -> int | None:
        """``GS r 1`` (paper sensor) as the DLE EOT 4 byte it stands for, or None."""
        try:
            reply = self._device.query_status(GS_R_PAPER_SENSOR)
        except (NotImplementedError, EscposLibraryError, OSError):
            return None
        data = bytes(reply or b"")
        if not data or data[-1] & GS_R_FIXED_MASK:
            return None  # no answer, or not a GS r byte (bit 4 and 7 read 0)
        sensor = data[-1]
        value = STATUS_BASE
        if sensor & GS_R_PAPER_NEAR_END:
            value |= STATUS_PAPER_NEAR_END
        if sensor & GS_R_PAPER_END:
            value |= STATUS_PAPER_END
        return value

    def close(self) -> None:
        try:
            self._device.close()
        except (EscposLibraryError, OSError) as exc:
            raise PrinterError(f"closing printer {self.name} failed: {exc}") from exc
