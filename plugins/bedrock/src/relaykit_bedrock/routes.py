"""The two APIs a chat goes through on Bedrock, and how a refusal names each.

Every chat body is built as Converse's first (:mod:`.wire`), and for the Claude
models the Messages API serves translated from it (:mod:`.messages_wire`), so
the checks made while building it hold on both routes. What the body's builder
refuses before sending names the API the call goes to, and where the two differ
(a user turn of documents alone, a document's or image's ``s3://`` source, the
document formats read, the path of a tool's name) it refuses by that API's
rules: :data:`CONVERSE` or :data:`MESSAGES`.
"""

from __future__ import annotations

from typing import Literal

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
