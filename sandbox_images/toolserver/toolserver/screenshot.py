"""A PNG of the whole X display: ``python3 -m toolserver.screenshot`` writes it to stdout.

Xlib's ``XGetImage`` of the root window (through ctypes: libX11 is on every desktop image),
encoded as an 8-bit RGB PNG with the standard library's zlib. Run as its own process by the
gui tools: Xlib's default handlers end the process on a broken display connection, which
must never be the tool server.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
import zlib

Z_PIXMAP = 2
ALL_PLANES = 0xFFFFFFFF


class XImage(ctypes.Structure):
    # the leading fields of Xlib's XImage (X11/Xlib.h); the rest is never read
    _fields_ = [
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("xoffset", ctypes.c_int),
        ("format", ctypes.c_int),
        ("data", ctypes.c_void_p),
        ("byte_order", ctypes.c_int),
        ("bitmap_unit", ctypes.c_int),
        ("bitmap_bit_order", ctypes.c_int),
        ("bitmap_pad", ctypes.c_int),
        ("depth", ctypes.c_int),
        ("bytes_per_line", ctypes.c_int),
        ("bits_per_pixel", ctypes.c_int),
        ("red_mask", ctypes.c_ulong),
        ("green_mask", ctypes.c_ulong),
        ("blue_mask", ctypes.c_ulong),
    ]


def grab(display_name: str) -> tuple[int, int, bytes]:
    """(width, height, RGB bytes) of the display's root window."""
    x11 = ctypes.CDLL("libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XDefaultScreen.argtypes = [ctypes.c_void_p]
    x11.XDefaultRootWindow.restype = ctypes.c_ulong
    x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    x11.XDisplayWidth.argtypes = x11.XDisplayHeight.argtypes = [ctypes.c_void_p, ctypes.c_int]
    x11.XGetImage.restype = ctypes.POINTER(XImage)
    int_, uint, ulong = ctypes.c_int, ctypes.c_uint, ctypes.c_ulong
    x11.XGetImage.argtypes = [ctypes.c_void_p, ulong, int_, int_, uint, uint, ulong, int_]
    x11.XDestroyImage.argtypes = [ctypes.POINTER(XImage)]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    display = x11.XOpenDisplay(display_name.encode())
    if not display:
        raise SystemExit(f"cannot open display {display_name}")
    try:
        screen = x11.XDefaultScreen(display)
        width, height = x11.XDisplayWidth(display, screen), x11.XDisplayHeight(display, screen)
        root = x11.XDefaultRootWindow(display)
        ximage = x11.XGetImage(display, root, 0, 0, width, height, ALL_PLANES, Z_PIXMAP)
        if not ximage:
            raise SystemExit("XGetImage failed")
        try:
            img = ximage.contents
            if img.bits_per_pixel != 32 or img.red_mask != 0xFF0000 or img.byte_order != 0:
                raise SystemExit(f"unsupported pixel format ({img.bits_per_pixel} bpp)")
            raw = ctypes.string_at(img.data, img.bytes_per_line * height)
            stride = img.bytes_per_line
        finally:
            x11.XDestroyImage(ximage)
    finally:
        x11.XCloseDisplay(display)
    rgb = bytearray(width * height * 3)
    for y in range(height):  # BGRX, little-endian, to RGB; slicing runs at C speed
        row = raw[y * stride : y * stride + width * 4]
        out = y * width * 3
        rgb[out : out + width * 3 : 3] = row[2::4]
        rgb[out + 1 : out + width * 3 : 3] = row[1::4]
        rgb[out + 2 : out + width * 3 : 3] = row[0::4]
    return width, height, bytes(rgb)


def png(width: int, height: int, rgb: bytes) -> bytes:
    """An 8-bit RGB PNG (filter 0 on every row)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    line = width * 3
    rows = b"".join(b"\x00" + rgb[y * line : (y + 1) * line] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 1))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    width, height, rgb = grab(os.environ.get("DISPLAY") or ":1")
    sys.stdout.buffer.write(png(width, height, rgb))


if __name__ == "__main__":
    main()
