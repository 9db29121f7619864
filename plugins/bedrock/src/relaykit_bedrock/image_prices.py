"""What Bedrock's image models cost: USD per image, by quality and size.

On-demand list prices of aws.amazon.com/bedrock/pricing (US East), as quoted
by sources that cite it and agree with each other (a Nova Canvas guide checked
against AWS in July 2026, Bedrock tools' price tables):

- Amazon Nova Canvas: standard USD 0.04 an image up to 1024x1024 and 0.06 up
  to 2048x2048; premium 0.06 and 0.08. "Up to" is read as a number of pixels
  (1280x720 is priced as 1024x1024), since Nova draws sizes such as 4096x1024
  that fit under 2048x2048 by area only: :class:`PixelBandPrice`.
- Titan Image Generator v2: standard USD 0.008 an image priced as 512x512 and
  0.01 as 1024x1024; premium 0.01 and 0.012. Each size it draws is priced as
  one of the two (:data:`relaykit_bedrock.image_sizes.TITAN_SIZES`), so the
  price is an ordinary ``image_prices`` table of every size.
- Stability AI: one price an image whatever its ratio: Stable Diffusion 3.5
  Large USD 0.08, Stable Image Ultra 0.14, Stable Image Core 0.04.

A ``[prices."bedrock/MODEL"]`` override in config replaces these as for any model.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from relaykit import ModelPrice
from relaykit.image_generation import pixels

from .image_sizes import TITAN_SIZES, size_text


@attrs.frozen
class PixelBandPrice(ModelPrice):
    """A price per image by quality and by the smallest band of pixels the size fits in.

    ``bands`` holds ``(most pixels, quality, USD)``, smallest band first; a
    quality or size left out is ``default_quality`` or ``default_size`` (the
    model's defaults); a size over every band or a quality the bands do not name
    has no price (``None``: unknown rather than a wrong amount).
    """

    bands: tuple[tuple[int, str, Decimal], ...] = ()
    default_quality: str = "standard"
    default_size: str = "1024x1024"

    def image_price(self, quality: str | None = None, size: str | None = None) -> Decimal | None:
        """USD for one image of ``quality`` and ``size`` (see the class docstring)."""
        width, height = pixels(size) or pixels(self.default_size) or (0, 0)
        wanted = quality or self.default_quality
        for most, name, usd in self.bands:
            if width * height <= most and name == wanted:
                return usd
        return None


#: Amazon Nova Canvas: USD per image by quality, up to 1024x1024 and up to 2048x2048.
NOVA_CANVAS = PixelBandPrice(
    Decimal(0),
    Decimal(0),
    per_image=Decimal("0.04"),
    bands=(
        (1024 * 1024, "standard", Decimal("0.04")),
        (1024 * 1024, "premium", Decimal("0.06")),
        (2048 * 2048, "standard", Decimal("0.06")),
        (2048 * 2048, "premium", Decimal("0.08")),
    ),
)

#: Titan Image Generator v2's price of an image billed as 512x512 or 1024x1024, by quality.
_TITAN = {
    ("standard", 512): Decimal("0.008"),
    ("standard", 1024): Decimal("0.01"),
    ("premium", 512): Decimal("0.01"),
    ("premium", 1024): Decimal("0.012"),
}

#: Titan Image Generator v2: every size it draws at both qualities, the size alone at
#: standard (its default), and premium alone at 1024x1024 (its default size).
TITAN_IMAGE_V2 = ModelPrice(
    Decimal(0),
    Decimal(0),
    per_image=_TITAN["standard", 1024],
    image_prices={
        **{
            f"{quality}/{size_text(size)}": _TITAN[quality, band]
            for size, band in TITAN_SIZES.items()
            for quality in ("standard", "premium")
        },
        **{size_text(size): _TITAN["standard", band] for size, band in TITAN_SIZES.items()},
        "premium": _TITAN["premium", 1024],
    },
)


def per_image(usd: str) -> ModelPrice:
    """A model billed one price an image, whatever its size: no tokens of its own."""
    return ModelPrice(Decimal(0), Decimal(0), per_image=Decimal(usd))
