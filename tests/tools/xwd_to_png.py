#!/usr/bin/env python3
"""xwd_to_png.py IN.xwd OUT.png: an X screen dump (xwd -root, 24-bit colour) as a PNG, for
png_probe. Standard library only; ffmpeg's xwd decoder reads Xvfb's 32-bit dumps as black."""
import struct
import sys
import zlib


def main():
    data = open(sys.argv[1], "rb").read()
    (header_size, _version, pixmap_format, _depth, width, height, _xoffset, byte_order, _unit, _bit_order, _pad,
     bits_per_pixel, bytes_per_line, visual_class, red_mask, green_mask, blue_mask, _bits_per_rgb, _entries,
     ncolors) = struct.unpack(">20I", data[:80])
    # Colours by masks: TrueColor, or DirectColor with identity ramps, which xwd reports (packed
    # 3 bytes a pixel) once an SDL window is on Xvfb's screen.
    size = bits_per_pixel // 8
    if pixmap_format != 2 or size not in (3, 4) or bytes_per_line < width * size or visual_class not in (4, 5):
        sys.exit(f"xwd_to_png: unsupported dump (format {pixmap_format}, {bits_per_pixel} bpp, class {visual_class})")
    pixels = header_size + ncolors * 12
    order = "<" if byte_order == 0 else ">"
    shift = {m: (m & -m).bit_length() - 1 for m in (red_mask, green_mask, blue_mask)}
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # PNG filter: none
        line = data[pixels + y * bytes_per_line: pixels + y * bytes_per_line + width * size]
        for x in range(width):
            p = int.from_bytes(line[x * size: (x + 1) * size], "little" if order == "<" else "big")
            rows += bytes(((p & m) >> shift[m]) & 0xFF for m in (red_mask, green_mask, blue_mask))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(bytes(rows), 1)) + chunk(b"IEND", b"")
    open(sys.argv[2], "wb").write(png)


if __name__ == "__main__":
    main()
