#!/usr/bin/env python
"""Draw the app's icon (the browser tab's favicon): three stacked layers on the theme's red.

Run from the repository root:

    python scripts/make_favicon.py

Writes ``assets/favicon.png`` (64×64 RGBA). A file the server sends itself: a Material icon as
page_icon made every page fetch an SVG from fonts.gstatic.com, which an offline lab server
cannot reach (ERR_NAME_NOT_RESOLVED in the console).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "assets" / "favicon.png"


def main() -> None:
    scale = 4  # drawn large, then reduced: smooth edges
    img = Image.new("RGBA", (64 * scale, 64 * scale), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((0, 0, 64 * scale - 1, 64 * scale - 1), 14 * scale, fill="#e45756")
    for i, top in enumerate((14, 26, 38)):  # three layers, the front one brightest
        shade = (255, 255, 255, 150 + 50 * i)
        x0, x1 = (10 + 4 * (2 - i)) * scale, (54 - 4 * (2 - i)) * scale
        draw.rounded_rectangle((x0, top * scale, x1, (top + 10) * scale), 3 * scale, fill=shade)
    img.resize((64, 64), Image.Resampling.LANCZOS).save(OUT, optimize=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
