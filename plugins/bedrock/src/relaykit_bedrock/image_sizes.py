"""The sizes Bedrock's image models draw, checked before anything is sent.

Each family says it differently (every rule here is from AWS's own pages):

- Amazon Nova Canvas takes any ``width`` and ``height`` whose sides are
  multiples of 16 from 320 to 4,096 pixels, no more than 4:1 either way, and at
  most 4,194,304 pixels in all (the Nova user guide's "Image generation access
  and usage" and model-spec tables: "4.19 million pixels (that is, 2048x2048,
  2816x1536)"; AWS's input guide says "less than" where the overview names
  2048x2048 as valid, so 2048x2048 itself is allowed here).
- Titan Image Generator v2 takes only the sizes of the table in the Bedrock
  user guide's Titan Image Generator parameters page (:data:`TITAN_SIZES`),
  each billed as a 512x512 or a 1024x1024 image.
- The Stability AI models take an ``aspect_ratio`` instead, one of
  :data:`STABILITY_RATIOS` (their Bedrock parameter pages), and draw about a
  megapixel at it: a ``size`` stands for its ratio when it is within
  :data:`RATIO_TOLERANCE` of one of them (1920x1080 and 1344x768 are 16:9),
  and is refused otherwise rather than drawn at another shape.
"""

from __future__ import annotations

from fractions import Fraction

#: Nova Canvas: each side from this many pixels...
NOVA_MIN_SIDE = 320
#: ... to this many ...
NOVA_MAX_SIDE = 4_096
#: ... in steps of this many ...
NOVA_SIDE_STEP = 16
#: ... the longer side at most this many times the shorter ...
NOVA_MAX_RATIO = 4
#: ... and at most this many pixels in all (2048x2048).
NOVA_MAX_PIXELS = 4_194_304

#: Titan Image Generator v2's sizes (width, height), each with the size it is billed
#: as (512: "equivalent to 512 x 512", 1024: "equivalent to 1024 x 1024"), in the
#: order of AWS's table.
TITAN_SIZES: dict[tuple[int, int], int] = {
    (1024, 1024): 1024,
    (768, 768): 512,
    (512, 512): 512,
    (768, 1152): 1024,
    (384, 576): 512,
    (1152, 768): 1024,
    (576, 384): 512,
    (768, 1280): 1024,
    (384, 640): 512,
    (1280, 768): 1024,
    (640, 384): 512,
    (896, 1152): 1024,
    (448, 576): 512,
    (1152, 896): 1024,
    (576, 448): 512,
    (768, 1408): 1024,
    (384, 704): 512,
    (1408, 768): 1024,
    (704, 384): 512,
    (640, 1408): 1024,
    (320, 704): 512,
    (1408, 640): 1024,
    (704, 320): 512,
    (1152, 640): 1024,
    (1173, 640): 1024,
}

#: The aspect ratios the Stability AI models on Bedrock draw (their ``aspect_ratio`` enum).
STABILITY_RATIOS = ("1:1", "16:9", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21")
#: How far a size's shape may be from a ratio and still stand for it: 3% takes the
#: sizes Stability's models themselves draw (1344x768 for 16:9, 896x1088 for 4:5)
#: while the nearest two ratios (3:2 and 16:9) are 18% apart, so no size is ambiguous.
RATIO_TOLERANCE = 0.03


def size_text(size: tuple[int, int]) -> str:
    """``(1024, 768)`` as ``"1024x768"``."""
    return f"{size[0]}x{size[1]}"


def nova_size_problem(width: int, height: int) -> str | None:
    """What is wrong with ``width`` x ``height`` for Nova Canvas, or ``None``."""
    for name, side in (("width", width), ("height", height)):
        if not NOVA_MIN_SIDE <= side <= NOVA_MAX_SIDE:
            return f"a {name} of {side:,} is outside {NOVA_MIN_SIDE} to {NOVA_MAX_SIDE:,} pixels"
        if side % NOVA_SIDE_STEP:
            return f"a {name} of {side:,} is no multiple of {NOVA_SIDE_STEP}"
    if max(width, height) > NOVA_MAX_RATIO * min(width, height):
        return f"{width}x{height} is longer than {NOVA_MAX_RATIO}:1"
    if width * height > NOVA_MAX_PIXELS:
        return f"{width}x{height} is {width * height:,} pixels, over {NOVA_MAX_PIXELS:,}"
    return None


def aspect_ratio(width: int, height: int) -> str | None:
    """The Stability aspect ratio ``width`` x ``height`` stands for (within
    :data:`RATIO_TOLERANCE`), or ``None`` when it is none of them."""
    shape = Fraction(width, height)
    for ratio in STABILITY_RATIOS:
        w, h = ratio.split(":")
        target = Fraction(int(w), int(h))
        if abs(shape / target - 1) <= RATIO_TOLERANCE:
            return ratio
    return None
