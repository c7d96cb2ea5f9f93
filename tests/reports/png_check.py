#!/usr/bin/env python3
"""Checks a screenshot of the HTML report without comparing pixels.

usage: png_check.py SHOT.png WIDTH HEIGHT

The PNG decodes (8-bit RGB or RGBA, as Chromium writes it) at the window's
size; it is not blank (at least 2% of the pixels differ from the white
background, at most 60% do); ink reaches across the width (the lanes and
the cookie-jar column: something in each fifth of the width); and the red of
a FAIL verdict is present. Prints what failed; exit 1 when anything did.
"""
import struct
import sys
import zlib


def decode(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, ctype, _, _, interlace = header
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError("unsupported PNG format %s" % (header,))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(height):
        f = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return width, height, bpp, rows


def main():
    path, want_w, want_h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    problems = []
    try:
        width, height, bpp, rows = decode(path)
    except (ValueError, zlib.error, struct.error, TypeError) as e:
        print("FAIL %s: %s" % (path, e))
        return 1
    if (width, height) != (want_w, want_h):
        problems.append("size %dx%d, expected %dx%d" % (width, height, want_w, want_h))
    ink, red, fifths = 0, 0, [0] * 5
    for y in range(0, height, 2):
        line = rows[y]
        for x in range(0, width, 2):
            r, g, b = line[x * bpp], line[x * bpp + 1], line[x * bpp + 2]
            if r < 235 or g < 235 or b < 235:
                ink += 1
                fifths[min(4, x * 5 // width)] += 1
            if r > 140 and g < 40 and b < 40:
                red += 1
    total = ((height + 1) // 2) * ((width + 1) // 2)
    share = ink / total
    if not 0.02 <= share <= 0.60:
        problems.append("%.1f%% of the pixels are ink (blank or flooded)" % (100 * share))
    for k, n in enumerate(fifths):
        if n < total * 0.001:
            problems.append("nothing drawn in fifth %d of the width" % (k + 1))
    if red < 20:
        problems.append("no FAIL red (%d pixels)" % red)
    for p in problems:
        print("FAIL " + p)
    print("ink %.1f%%, red %d px, by fifth %s" % (100 * share, red, fifths))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
