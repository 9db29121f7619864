"""The two APIs a chat goes through on Bedrock, and how a refusal names each.

Every chat body is built as Converse's first (:mod:`.wire`), and for the Claude
models the Messages API serves translated from it (:mod:`.messages_wire`), so
the checks made while building it hold on both routes. What the body's builder
refuses before sending names the API the call goes to, and where the two differ
(a user turn of documents alone, a document's or image's ``s3://`` source, the
document formats read, the path of a tool's name) it refuses by that API's
rules: :data:`CONVERSE` or :data:`MESSAGES`.

A model id may carry LiteLLM's route prefix (:func:`chat_model`): its
``converse/`` (``bedrock/converse/<model>``) is dropped, the API then chosen as
for the model alone; its ``invoke/`` (LiteLLM's InvokeModel route, each model's
own body) is refused before sending, naming the id to write.
"""

from __future__ import annotations

from typing import Literal

import attrs

from relaykit import ChatRequest, InvalidRequestError

Api = Literal["converse", "messages"]
#: Converse and ConverseStream (``/model/{modelId}/converse``)
CONVERSE: Api = "converse"
#: Anthropic's Messages API on ``bedrock-runtime`` (``/anthropic/v1/messages``)
MESSAGES: Api = "messages"

#: what a refusal calls each API
API_NAMES: dict[Api, str] = {
    CONVERSE: "Bedrock's Converse API",
    MESSAGES: "Anthropic's Messages API on Bedrock",
}


#: LiteLLM's prefix for a model called through Converse (``bedrock/converse/<model>``)
CONVERSE_PREFIX = "converse/"
#: LiteLLM's prefix for a model called through InvokeModel, in its own body
INVOKE_PREFIX = "invoke/"


def chat_model(request: ChatRequest) -> ChatRequest:
    """``request`` with its model's LiteLLM route prefix dropped (``converse/``), or as
    it is; one naming InvokeModel (``invoke/``) is refused: relaykit sends every chat
    through Converse, or the Messages API for the Claude models it serves."""
    model = request.model
    if not model.startswith((CONVERSE_PREFIX, INVOKE_PREFIX)):
        return request
    prefix, _, bare = model.partition("/")
    if prefix + "/" == INVOKE_PREFIX:
        raise InvalidRequestError(
            f"the model {model!r} names LiteLLM's InvokeModel route (invoke/), which relaykit "
            "does not take: it calls every chat model through Converse, and the Claude "
            "models it serves through the Messages API",
            model=model,
            param="model",
            hint=f"write 'bedrock/{bare}': relaykit chooses the API by model "
            "([providers.NAME] claude_api chooses it for Claude)",
        )
    return attrs.evolve(request, model=bare)
