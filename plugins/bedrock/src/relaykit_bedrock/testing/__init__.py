"""A loopback server speaking Amazon Bedrock's wire formats, for tests and demos.

Built from the public API reference: Converse responses (``output.message.content``
blocks, ``stopReason``, ``usage`` with cache reads counted apart from
``inputTokens``, ``metrics.latencyMs``); ConverseStream as binary
``application/vnd.amazon.eventstream`` frames with correct CRCs (and the ``p``
padding field AWS adds to each event); in-stream exceptions; HTTP errors as
``{"message": ...}`` with ``x-amzn-errortype``; CountTokens for Converse input
and for Claude's InvokeModel body (``{"inputTokens": N}``); InvokeModel for the
Titan Text Embeddings and Cohere Embed models (each text answered with
:func:`relaykit.testing.mock_vector`, the input tokens in
``X-Amzn-Bedrock-Input-Token-Count``) and for the Cohere
Rerank 3.5 and Amazon Rerank 1.0 models (the documents ranked with
:func:`relaykit.testing.mock_ranking`, see :mod:`.rerank`); for Amazon Nova
Canvas, Titan Image Generator v2 and Stability AI's image models (each image
:func:`relaykit.testing.mock_image` of the prompt, see :mod:`.images`); and
ListFoundationModels and ListInferenceProfiles (see :mod:`.profiles`).

It checks authentication as AWS does: a Bedrock API key, or a SigV4
``Authorization`` header whose signature it recomputes with botocore from the
known test secret. It also rejects request shapes Converse rejects
(conversations that do not alternate or start with the user, blank text, tool
blocks without a ``toolConfig``, a ``toolUse.input`` that is not an object,
``cachePoint`` blocks of the wrong shape, more than four of them, one right
after a reasoning block or alone in a message, a ``1h`` one after a ``5m`` one,
``document`` blocks Converse would refuse: see :mod:`.documents`; thinking
fields a model would refuse: see :mod:`.reasoning`)::

    with BedrockMock() as mock:
        config = {"providers": {"bedrock": {
            "base_url": mock.base_url, "control_plane_url": mock.base_url, "region": mock.region,
        }}}
        # with AWS_ACCESS_KEY_ID=ACCESS_KEY and AWS_SECRET_ACCESS_KEY=SECRET_KEY in the environment
"""

from .environment import mock_aws_environment
from .errors import error, scripted_failure
from .frames import (
    STOP_REASONS,
    converse_frames,
    encode_headers,
    encode_message,
    event_frame,
    exception_frame,
    rechunk,
)
from .invoke import validate_invoke
from .mock import (
    ACCESS_KEY,
    MODELS,
    PROFILES,
    REGION,
    SECRET_KEY,
    BedrockMock,
    validate,
    validate_count_tokens,
)
from .profiles import profile_summary
from .sigv4 import Denial, SigV4Verifier

__all__ = [
    "ACCESS_KEY",
    "MODELS",
    "PROFILES",
    "REGION",
    "SECRET_KEY",
    "STOP_REASONS",
    "BedrockMock",
    "Denial",
    "SigV4Verifier",
    "converse_frames",
    "encode_headers",
    "encode_message",
    "error",
    "event_frame",
    "exception_frame",
    "mock_aws_environment",
    "profile_summary",
    "rechunk",
    "scripted_failure",
    "validate",
    "validate_count_tokens",
    "validate_invoke",
]
