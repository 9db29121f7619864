""":meth:`relaykit.Client.stream_transcription`: speech to text, its transcript handed
over as it is heard (:mod:`relaykit.call_stream` has the pipeline's steps).

A provider streams with its optional ``stream_transcription(request)``: an async
iterator of the transcript's text deltas as the vendor sends them, and,
optionally last, the whole :class:`~relaykit.TranscriptionResponse` (the text
as the vendor gave it at the end, its usage, the audio's length), whose text
then stands over the deltas joined. A vendor's model that cannot stream
(OpenAI's whisper-1) may answer with the whole transcript as one delta. Cost,
records and spans are :meth:`~relaykit.Client.transcribe`'s: the record keeps
the audio's size and format, never its bytes, and the transcript as its
answer (redacted as content is).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import attrs

from .audio import read_audio
from .call_stream import CallStream
from .transcription import TranscriptionResponse

if TYPE_CHECKING:
    from .client import Client, _Call


class TranscriptionStream(CallStream[str, TranscriptionResponse]):
    """A streamed transcription: ``async with client.stream_transcription(...) as t:
    async for delta in t: ...``, then ``t.response`` (or ``t.text``).

    Entering reads the audio (a path is read without blocking the event loop),
    sends it and waits for the first text, retrying and falling back as
    :meth:`relaykit.Client.transcribe` does; once text has reached you the call
    is never retried. Leaving the block early closes the connection.
    """

    method = "stream_transcription"

    def __init__(self, client: Client, model: str, audio: object, params: dict[str, Any]) -> None:
        super().__init__(client, None)
        self._args = (model, audio, params)
        self._parts: list[str] = []
        #: the vendor's whole answer, if it sent one (its last item)
        self._summary: TranscriptionResponse | None = None

    async def _prepare(self) -> _Call:
        from .transcription_call import _start

        client = self._client
        model, audio, params = self._args
        targets = client._router.plan(model)  # an unknown model fails before the file is read
        found = await read_audio(audio)
        return _start(client, model, found, targets, params, streamed=True)

    def _items_of(self, response: TranscriptionResponse) -> tuple[Any, ...]:
        return response.text, response

    def _take(self, item: Any) -> str | None:
        if isinstance(item, TranscriptionResponse):
            self._summary = item
            return None
        if not item:
            return None
        self._parts.append(item)
        return item  # type: ignore[no-any-return]

    @property
    def text(self) -> str:
        """The transcript received so far."""
        return "".join(self._parts)

    def _assembled(self, *, whole: bool) -> TranscriptionResponse:
        call, target = self._call, self._target
        assert call is not None and target is not None
        request: Any = call.request  # a TranscriptionRequest
        summary = self._summary if whole else None
        base = summary or TranscriptionResponse(text="")
        return attrs.evolve(
            base,
            text=base.text if summary is not None and base.text else self.text,
            language=base.language or request.language,
            provider=target.provider,
            model=base.model or target.model,
            latency=time.monotonic() - call.started,
            attempts=call.attempts,
            time_to_first_chunk=self.time_to_first_chunk,
        )
