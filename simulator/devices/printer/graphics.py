"""Images: raster (``GS v 0``), column stripes (``ESC *``), graphics (``GS ( L``, ``GS 8 L``).

:class:`GraphicsCommands` turns each image into a packed 1-bit
:class:`RenderedLine` of kind ``IMAGE``, dot for dot (:mod:`.render.bitmaps`):
``GS v 0`` and ``GS ( L`` function 112/50 at their x/y scale, ``ESC *`` at its
mode's dot density, stripe after stripe joined into one image (up to a height:
see :mod:`.feed`). Headers over the printer's limits (:mod:`.limits`) cancel
the command, and what follows is processed as normal data.

Simplifications: downloaded, NV and BMP bit images (``GS *``, ``GS /``,
``FS q``, ``FS p``, ``GS D``) are skipped by their length and reported;
``ESC *`` images do not share a line with text; ``GS v 0`` and ``GS ( L``
images are not turned over by upside-down mode (Epson, ``ESC {``).
"""

from __future__ import annotations

from drivers.wire.escpos import ESC, FS, GS
from simulator.devices.printer import limits
from simulator.devices.printer.feed import Bitmap, PaperFeed
from simulator.devices.printer.interpreter import fixed, variable
from simulator.devices.printer.paper import LineKind, RenderedLine
from simulator.devices.printer.render import bitmaps
from simulator.devices.printer.tables import RASTER_MAX_HEIGHT, RASTER_MAX_WIDTH_BYTES, command_name


class GraphicsCommands(PaperFeed):
    """Bit images onto the paper (see the module docstring)."""

    def _reset_graphics(self) -> None:
        self._graphics: Bitmap | None = None  # GS ( L function 112: stored, not yet printed

    @variable(ESC, "*")
    def _esc_bit_image(self, buffer: bytearray, pos: int) -> int:
        """ESC * m nL nH d1...dk: one stripe of a column-format bit image."""
        if len(buffer) < pos + 5:
            return -(pos + 5 - len(buffer))
        m = buffer[pos + 2]
        n = buffer[pos + 3] + 256 * buffer[pos + 4]
        if m not in (0, 1, 32, 33) or not 1 <= n <= 2047:
            self._error(pos, "ESC *", f"m={m} n={n}: not a valid bit image header; skipped")
            return 5
        end = pos + 5 + n * (3 if m >= 32 else 1)
        if len(buffer) < end:
            return -(end - len(buffer))
        # Epson's ESC * table: the 8-dot modes print 60 dpi down the paper on a 180
        # dpi head (67 dpi on 203 dpi heads, Zijiang ZJ-58 manual), one data bit per
        # three dot rows; single density prints 90 (100) dpi across, a bit per two dots.
        dots = 24 if m >= 32 else 8
        x_scale = 2 if m in (0, 32) else 1
        y_scale = 1 if m >= 32 else 3
        data = bytes(buffer[pos + 5 : end])
        piece = (n * x_scale, dots * y_scale, bitmaps.columns(data, n, dots, x_scale, y_scale))
        if self._spans:
            self._print_line()
        if self._stripe is None:
            self._line_align = self._align
            self._stripe = piece
        else:
            self._stripe = bitmaps.side_by_side(self._stripe, piece, self._dots_per_line)
        return end - pos

    @variable(GS, "v")
    def _gs_raster(self, buffer: bytearray, pos: int) -> int:
        """GS v 0 m xL xH yL yH d1...dk: raster bit image."""
        if len(buffer) < pos + 3:
            return -(pos + 3 - len(buffer))
        if buffer[pos + 2] != ord("0"):
            self._error(pos, command_name("GS v", buffer[pos + 2]), "unknown command; skipped")
            return 2
        if len(buffer) < pos + 8:
            return -(pos + 8 - len(buffer))
        m = buffer[pos + 3]
        x = buffer[pos + 4] + 256 * buffer[pos + 5]
        y = buffer[pos + 6] + 256 * buffer[pos + 7]
        if (
            m not in (0, 1, 2, 3, 48, 49, 50, 51)
            or not 1 <= x <= RASTER_MAX_WIDTH_BYTES
            or not 1 <= y <= RASTER_MAX_HEIGHT
        ):
            self._error(pos, "GS v 0", f"m={m} x={x} y={y}: not a valid raster header; skipped")
            return 8
        end = pos + 8 + x * y
        if len(buffer) < end:
            return -(end - len(buffer))
        x_scale, y_scale = (2 if m & 0x01 else 1), (2 if m & 0x02 else 1)
        bitmap = bitmaps.raster(x, y, bytes(buffer[pos + 8 : end]), x_scale, y_scale)
        line = RenderedLine(
            LineKind.IMAGE, width_dots=x * 8 * x_scale, height_dots=y * y_scale, bitmap=bitmap
        )
        self._block(line, turns=False)  # nor GS v 0 raster images (Epson, ESC {)
        return end - pos

    @variable(GS, "8")
    def _gs_eight(self, buffer: bytearray, pos: int) -> int:
        """GS 8 L p1 p2 p3 p4 m fn ...: graphics with a 32-bit length."""
        if len(buffer) < pos + 7:
            return -(pos + 7 - len(buffer))
        if buffer[pos + 2] != ord("L"):
            self._error(pos, command_name("GS 8", buffer[pos + 2]), "unknown command; skipped")
            return 2
        size = int.from_bytes(buffer[pos + 3 : pos + 7], "little")
        limit = RASTER_MAX_HEIGHT * self.profile.dots_per_line // 8 + 16
        if size > limit:
            self._error(pos, "GS 8 L", f"{size} bytes is larger than any image; skipped")
            return 7
        end = pos + 7 + size
        if len(buffer) < end:
            return -(end - len(buffer))
        self._graphics_function(pos, "GS 8 L", bytes(buffer[pos + 7 : end]))
        return end - pos

    def _graphics_function(self, pos: int, name: str, body: bytes) -> None:
        if len(body) < 2:
            self._error(pos, name, "no function code; skipped")
            return
        fn = body[1]
        if fn == 0x70:  # 112: store raster graphics a bx by c xL xH yL yH d...
            if len(body) < 10:
                self._error(pos, name, "function 112 header too short; skipped")
                return
            x_scale, y_scale = (2 if body[3] == 50 else 1), (2 if body[4] == 50 else 1)
            width = body[6] + 256 * body[7]
            height = body[8] + 256 * body[9]
            if body[2] != 48 or not 1 <= width <= 2400 or not 1 <= height <= 2400:
                self._error(pos, name, f"a={body[2]} {width}x{height}: not a monochrome image")
                return
            data = body[10:]
            if len(data) < bitmaps.stride(width) * height:
                self._error(pos, name, "graphics data shorter than the image; padded with white")
            scaled = bitmaps.raster(bitmaps.stride(width), height, data, x_scale, y_scale)
            self._graphics = (bitmaps.stride(width) * 8 * x_scale, height * y_scale, scaled)
            if bitmaps.stride(width) * 8 != width:  # crop the row padding back off
                self._graphics = self._crop(self._graphics, width * x_scale)
        elif fn in (0x32, 0x02):  # 50: print the stored graphics
            if self._graphics is None:
                self._error(pos, name, "print graphics: nothing stored; nothing printed")
                return
            width, height, bitmap = self._graphics
            # Epson, ESC {: upside-down mode does not turn GS ( L function 112 graphics.
            self._block(
                RenderedLine(LineKind.IMAGE, width_dots=width, height_dots=height, bitmap=bitmap),
                turns=False,
            )
        else:
            self._error(pos, name, f"graphics function {fn} is not simulated; skipped")

    @staticmethod
    def _crop(image: Bitmap, width: int) -> Bitmap:
        full, height, bitmap = image
        cropped = bitmaps.to_image(full, height, bitmap).crop((0, 0, width, height))
        return width, height, bitmaps.from_image(cropped)

    # -- stored images possim does not keep --------------------------------------------

    @variable(GS, "*")
    def _gs_define_image(self, buffer: bytearray, pos: int) -> int:
        """GS * x y d1...d(x*y*8): define a downloaded bit image (skipped)."""
        if len(buffer) < pos + 4:
            return -(pos + 4 - len(buffer))
        x, y = buffer[pos + 2], buffer[pos + 3]
        if (
            not 1 <= y <= limits.DOWNLOADED_IMAGE_MAX_HEIGHT_BYTES
            or not 1 <= x * y <= limits.DOWNLOADED_IMAGE_MAX_AREA
        ):
            self._error(
                pos,
                "GS *",
                f"x={x} y={y}: over the printer's limits (y 1-48, x * y <= 1536); cancelled, "
                "the rest is processed as normal data",
            )
            return 4
        end = pos + 4 + x * y * 8
        if len(buffer) < end:
            return -(end - len(buffer))
        self._error(pos, "GS *", "downloaded bit images are not simulated; skipped")
        return end - pos

    @fixed(GS, "/", params=1)
    def _downloaded_image(self, params: bytes, pos: int) -> None:
        self._error(pos, "GS /", "downloaded bit images are not simulated; nothing printed")

    @variable(GS, "D")
    def _gs_bmp_graphics(self, buffer: bytearray, pos: int) -> int:
        """GS D m fn a kc1 kc2 b c d1...dk: NV / download graphics from a Windows BMP (skipped).

        d is a whole BMP file, so its size is the file header's (``BM`` + 32 bits).
        """
        if len(buffer) < pos + 4:
            return -(pos + 4 - len(buffer))
        m, fn = buffer[pos + 2], buffer[pos + 3]
        if m != 48 or fn not in (67, 83):
            self._error(pos, "GS D", f"m={m} fn={fn}: not a BMP graphics definition; skipped")
            return 4
        head = pos + limits.GS_D_HEADER
        if len(buffer) < head + limits.BMP_SIZE_FIELD:
            return -(head + limits.BMP_SIZE_FIELD - len(buffer))
        if buffer[head : head + 2] != b"BM":
            self._error(pos, "GS D", "the data is not a Windows BMP file; skipped")
            return limits.GS_D_HEADER
        size = int.from_bytes(buffer[head + 2 : head + 6], "little")
        if not limits.BMP_SIZE_FIELD <= size <= limits.NV_GRAPHICS_CAPACITY:
            self._error(
                pos,
                "GS D",
                f"a {size}-byte BMP does not fit the {limits.NV_GRAPHICS_CAPACITY}-byte "
                "graphics area; cancelled, the rest is processed as normal data",
            )
            return limits.GS_D_HEADER + limits.BMP_SIZE_FIELD
        end = head + size
        if len(buffer) < end:
            return -(end - len(buffer))
        self._error(pos, "GS D", "BMP graphics are not simulated; skipped")
        return end - pos

    @variable(FS, "q")
    def _fs_nv_images(self, buffer: bytearray, pos: int) -> int:
        """FS q n [xL xH yL yH d1...dk]1...n: define NV bit images (skipped)."""
        if len(buffer) < pos + 3:
            return -(pos + 3 - len(buffer))
        k = pos + 3
        stored = 0
        for _ in range(buffer[pos + 2]):
            if len(buffer) < k + 4:
                return -(k + 4 - len(buffer))
            x = buffer[k] + 256 * buffer[k + 1]
            y = buffer[k + 2] + 256 * buffer[k + 3]
            stored += x * y * 8
            if (
                not 1 <= x <= limits.NV_IMAGE_MAX_WIDTH_BYTES
                or not 1 <= y <= limits.NV_IMAGE_MAX_HEIGHT_BYTES
                or stored > limits.NV_GRAPHICS_CAPACITY
            ):
                self._error(
                    pos,
                    "FS q",
                    f"image of {x} x {y} bytes: over the printer's limits (1-1023 x 1-288, "
                    f"{limits.NV_GRAPHICS_CAPACITY} bytes in all); cancelled, the rest is "
                    "processed as normal data",
                )
                return k + 4 - pos
            k += 4 + x * y * 8
        if len(buffer) < k:
            return -(k - len(buffer))
        self._error(pos, "FS q", "NV bit images are not simulated; skipped")
        return k - pos

    @fixed(FS, "p", params=2)
    def _nv_image(self, params: bytes, pos: int) -> None:
        self._error(pos, "FS p", f"no NV bit image #{params[0]} is stored; nothing printed")
