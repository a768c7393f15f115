#!/usr/bin/env python
"""Draw the built-in colour samples (assets/samples/scenes/): small scenes made by the project.

Run from the repository root:

    python scripts/make_colour_samples.py

Ten 32×32 RGB PNGs, one scene in the spirit of each CIFAR-10 class (an aeroplane in the sky, a
car on a road, a ship at sea, ...), drawn with Pillow at 128×128 and downsampled with a box
filter (CIFAR's own images are downsampled photos). They are pictures, not photographs: the
model may or may not agree with their theme, which is the point of looking inside it. Nothing
here comes from a dataset, so they may be shipped. Deterministic.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "assets" / "samples" / "scenes"
S = 128  # drawing size; saved at 32x32


def _sky(d: ImageDraw.ImageDraw, top=(110, 160, 220), bottom=(190, 215, 240), until=S) -> None:
    for y in range(until):
        t = y / max(1, until - 1)
        d.line([(0, y), (S, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))


def _ground(d: ImageDraw.ImageDraw, y0: int, colour) -> None:
    d.rectangle([0, y0, S, S], fill=colour)


def airplane(d):
    _sky(d)
    d.polygon([(20, 66), (108, 58), (116, 64), (108, 70)], fill=(225, 225, 230))  # fuselage
    d.polygon([(58, 63), (76, 63), (50, 100), (40, 100)], fill=(200, 200, 210))  # wing
    d.polygon([(58, 63), (76, 63), (54, 30), (44, 30)], fill=(210, 210, 218))
    d.polygon([(20, 66), (30, 64), (22, 46), (16, 46)], fill=(200, 200, 210))  # tail


def automobile(d):
    _sky(d, until=70)
    _ground(d, 70, (90, 90, 95))
    d.rounded_rectangle([18, 62, 110, 92], 8, fill=(200, 30, 35))  # body
    d.polygon([(38, 62), (50, 42), (86, 42), (98, 62)], fill=(185, 25, 30))  # cabin
    d.polygon([(44, 60), (53, 46), (66, 46), (66, 60)], fill=(170, 210, 235))  # windows
    d.polygon([(70, 60), (70, 46), (84, 46), (92, 60)], fill=(170, 210, 235))
    for x in (38, 90):
        d.ellipse([x - 11, 82, x + 11, 104], fill=(25, 25, 25))
        d.ellipse([x - 5, 88, x + 5, 98], fill=(160, 160, 160))


def bird(d):
    _sky(d, (150, 190, 230), (200, 225, 245))
    d.line([(10, 110), (118, 96)], fill=(100, 70, 40), width=6)  # branch
    d.ellipse([42, 52, 92, 96], fill=(200, 120, 40))  # body
    d.ellipse([76, 40, 102, 66], fill=(210, 130, 45))  # head
    d.polygon([(100, 52), (114, 56), (100, 60)], fill=(240, 200, 60))  # beak
    d.ellipse([88, 47, 93, 52], fill=(10, 10, 10))
    d.polygon([(44, 70), (14, 60), (40, 86)], fill=(150, 85, 30))  # tail


def cat(d):
    d.rectangle([0, 0, S, S], fill=(185, 170, 150))
    d.ellipse([30, 40, 98, 108], fill=(120, 110, 100))  # head
    d.polygon([(34, 56), (40, 18), (62, 44)], fill=(120, 110, 100))  # ears
    d.polygon([(94, 56), (88, 18), (66, 44)], fill=(120, 110, 100))
    for x in (50, 78):
        d.ellipse([x - 8, 62, x + 8, 76], fill=(190, 200, 60))
        d.ellipse([x - 2, 63, x + 2, 75], fill=(10, 10, 10))
    d.polygon([(60, 84), (68, 84), (64, 90)], fill=(220, 140, 150))  # nose


def deer(d):
    _sky(d, (160, 190, 210), (200, 215, 220), until=76)
    _ground(d, 76, (90, 120, 60))
    d.ellipse([34, 54, 96, 84], fill=(150, 100, 55))  # body
    for x in (42, 54, 80, 90):
        d.line([(x, 80), (x, 112)], fill=(130, 85, 45), width=5)  # legs
    d.line([(90, 62), (100, 38)], fill=(150, 100, 55), width=10)  # neck
    d.ellipse([94, 28, 112, 44], fill=(150, 100, 55))  # head
    d.line([(100, 30), (92, 12)], fill=(110, 80, 50), width=3)  # antlers
    d.line([(106, 30), (114, 12)], fill=(110, 80, 50), width=3)


def dog(d):
    d.rectangle([0, 0, S, S], fill=(120, 160, 90))
    d.ellipse([34, 36, 96, 100], fill=(210, 170, 110))  # head
    d.ellipse([22, 40, 44, 86], fill=(150, 105, 60))  # ears
    d.ellipse([86, 40, 108, 86], fill=(150, 105, 60))
    d.ellipse([50, 76, 80, 100], fill=(235, 210, 170))  # muzzle
    d.ellipse([58, 76, 72, 86], fill=(20, 20, 20))  # nose
    for x in (52, 78):
        d.ellipse([x - 5, 56, x + 5, 66], fill=(30, 20, 10))


def frog(d):
    d.rectangle([0, 0, S, S], fill=(70, 110, 60))
    d.ellipse([24, 50, 104, 104], fill=(90, 170, 60))  # body
    for x in (44, 84):
        d.ellipse([x - 12, 36, x + 12, 60], fill=(100, 185, 70))  # eyes
        d.ellipse([x - 5, 42, x + 5, 54], fill=(20, 20, 10))
    d.arc([44, 70, 84, 92], 20, 160, fill=(40, 80, 30), width=3)  # mouth


def horse(d):
    _sky(d, (170, 200, 230), (210, 225, 240), until=84)
    _ground(d, 84, (120, 150, 70))
    d.ellipse([28, 50, 96, 84], fill=(95, 60, 35))  # body
    for x in (36, 48, 78, 88):
        d.line([(x, 78), (x, 116)], fill=(80, 50, 30), width=6)  # legs
    d.polygon([(86, 60), (104, 26), (114, 30), (98, 66)], fill=(95, 60, 35))  # neck
    d.ellipse([102, 22, 124, 38], fill=(95, 60, 35))  # head
    d.line([(28, 60), (14, 86)], fill=(40, 25, 15), width=6)  # tail


def ship(d):
    _sky(d, until=78)
    _ground(d, 78, (40, 80, 140))
    d.polygon([(14, 74), (114, 74), (100, 96), (26, 96)], fill=(60, 60, 70))  # hull
    d.rectangle([40, 56, 90, 74], fill=(235, 235, 235))  # cabin
    d.rectangle([70, 40, 80, 56], fill=(200, 60, 40))  # funnel
    for x in range(46, 88, 10):
        d.rectangle([x, 62, x + 5, 67], fill=(40, 40, 60))


def truck(d):
    _sky(d, until=74)
    _ground(d, 74, (100, 100, 100))
    d.rectangle([12, 38, 84, 88], fill=(230, 230, 225))  # box
    d.rectangle([84, 54, 116, 88], fill=(40, 90, 170))  # cab
    d.rectangle([92, 58, 110, 72], fill=(170, 210, 235))
    for x in (30, 60, 100):
        d.ellipse([x - 10, 80, x + 10, 100], fill=(25, 25, 25))


SCENES = [airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for i, draw in enumerate(SCENES):
        im = Image.new("RGB", (S, S))
        draw(ImageDraw.Draw(im))
        im.resize((32, 32), Image.Resampling.BOX).save(OUT / f"{i}_{draw.__name__}.png")
    print(f"wrote {len(SCENES)} scenes to {OUT}")


if __name__ == "__main__":
    main()
