""":meth:`relaykit.Client.stream_speech`: text to speech, its audio handed over as it
arrives (:mod:`relaykit.call_stream` has the pipeline's steps).

A provider streams with its optional ``stream_speech(request)``: an async
iterator of the audio's bytes as the vendor sends them, and, optionally last,
a :class:`~relaykit.SpeechResponse` without audio saying what the vendor said of
the whole (its media type, id, usage). The response a stream ends with keeps
no audio (``audio == b""``, ``streamed_bytes`` its size): a voice app plays
each chunk and lets it go, and one that wants the whole audio joins the
chunks, or calls :meth:`relaykit.Client.speak`. Cost, records and spans are
:meth:`~relaykit.Client.speak`'s: the record says ``streamed`` and the
audio's size, never its bytes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import attrs

from .call_stream import CallStream
from .speech import SpeechResponse, media_type_of

if TYPE_CHECKING:
    from .client import _Call


class SpeechStream(CallStream[bytes, SpeechResponse]):
    """A streamed text to speech: ``async with client.stream_speech(...) as audio:
    async for chunk in audio: ...``, then ``audio.response``.

    Entering sends the request and waits for the first chunk of audio, retrying
    and falling back as :meth:`relaykit.Client.speak` does; once a chunk has
    reached you the call is never retried. Leaving the block early closes the
    connection. :attr:`response` is a :class:`relaykit.SpeechResponse` without
    the audio (``streamed_bytes`` says how much came), priced as ``speak``'s.
    """

    method = "stream_speech"

    def __init__(self, client: Any, call: _Call) -> None:
        super().__init__(client, call)
        self._bytes = 0
        #: what the provider said of the whole, if it said (its last item)
        self._summary: SpeechResponse | None = None

    def _items_of(self, response: SpeechResponse) -> tuple[Any, ...]:
        return response.audio, attrs.evolve(response, audio=b"")

    def _take(self, item: Any) -> bytes | None:
        if isinstance(item, SpeechResponse):
            self._summary = item
            return None
        if not item:
            return None
        self._bytes += len(item)
        return item  # type: ignore[no-any-return]

    @property
    def media_type(self) -> str:
        """The media type of the audio asked for (``audio/mpeg`` for ``mp3``...), known
        before any of it arrives."""
        request: Any = self._call.request if self._call is not None else None
        return media_type_of(request.format if request is not None else "")

    @property
    def bytes_received(self) -> int:
        """The bytes of audio received so far."""
        return self._bytes

    def _assembled(self, *, whole: bool) -> SpeechResponse:
        call, target = self._call, self._target
        assert call is not None and target is not None
        request: Any = call.request  # a SpeechRequest
        summary = self._summary or SpeechResponse(audio=b"", format=request.format)
        return attrs.evolve(
            summary,
            audio=b"",
            streamed_bytes=self._bytes,
            format=request.format,
            media_type=media_type_of(request.format, summary.media_type),
            provider=target.provider,
            model=summary.model or target.model,
            latency=time.monotonic() - call.started,
            attempts=call.attempts,
            time_to_first_chunk=self.time_to_first_chunk,
        )
