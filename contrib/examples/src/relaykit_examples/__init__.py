"""Example apps for relaykit, to read and copy; each runs offline with ``relaykit-offline``.

- :mod:`relaykit_examples.asyncio_batch`: a concurrent batch from asyncio, a
  fallback route, retries and a cost total;
- :mod:`relaykit_examples.trio_fanout`: a trio nursery fanning calls out, and a
  streamed answer;
- :mod:`relaykit_examples.fastapi_app`: a FastAPI app sharing one client, with
  JSON and Server-Sent Events endpoints and relaykit's errors as HTTP statuses;
- :mod:`relaykit_examples.offline`: the ``relaykit-offline`` command that runs
  them against a mock of OpenAI.
"""
