"""The audio formats a speech may be asked in, and their media types.

Apart from :mod:`relaykit.speech` so that ``relaykit speak``'s ``--format``
choices cost no import of the speech values (audio files, prices, validation,
anyio): every ``relaykit`` run registers that command, ``relaykit --help`` too.
"""

from __future__ import annotations

__all__ = ["FORMATS", "MEDIA_TYPES"]

#: the audio formats a speech may be asked in, and the media type of each (OpenAI's
#: six; ``pcm`` is raw 16-bit little-endian mono samples, 24 kHz at OpenAI)
MEDIA_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
FORMATS = tuple(MEDIA_TYPES)
