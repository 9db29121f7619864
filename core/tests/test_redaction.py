"""RedactionChain: what it does to messages, and its per-call chain."""

from __future__ import annotations

from relaykit.known_secrets import KnownSecrets
from relaykit.messages import ImagePart, Message, TextPart, ToolCall, ToolResultPart
from relaykit.redaction import RedactionChain


class Masker:
    """Replaces "jane" with "[NAME]" and counts the texts it sees."""

    def __init__(self) -> None:
        self.seen = 0

    def redact(self, text: str) -> str:
        self.seen += 1
        return text.replace("jane", "[NAME]")


def test_a_one_text_message_is_redacted_or_returned_as_it_is() -> None:
    chain = RedactionChain([Masker()])
    clean = Message.user("nothing to hide")
    assert chain.message(clean) is clean
    assert chain.message(Message.user("I am jane")) == Message.user("I am [NAME]")
    assert chain.message(Message.system("jane")) == Message.system("[NAME]")


def test_every_part_of_a_message_with_several_is_redacted() -> None:
    chain = RedactionChain([Masker()])
    image = ImagePart(url="https://example.com/jane.png")
    call = ToolCall("c1", "lookup", {"who": "jane", "n": 1}, raw_arguments='{"who": "jane"}')
    message = Message("user", (TextPart("hi jane"), image, ToolResultPart("c1", "jane's file")))
    assert chain.message(message) == Message(
        "user", (TextPart("hi [NAME]"), image, ToolResultPart("c1", "[NAME]'s file"))
    )
    turn = Message.assistant("calling", [call])
    assert chain.message(turn) == Message.assistant(
        "calling",
        [ToolCall("c1", "lookup", {"who": "[NAME]", "n": 1}, raw_arguments='{"who": "[NAME]"}')],
    )
    clean = Message("user", (TextPart("hi"), image, ToolResultPart("c1", "done")))
    assert chain.message(clean) is clean


def test_a_calls_chain_redacts_each_distinct_text_once() -> None:
    masker = Masker()
    chain = RedactionChain([masker])
    for_call = chain.for_call()
    assert [for_call.text(t) for t in ("jane", "jane", "bob", "jane")] == [
        "[NAME]",
        "[NAME]",
        "bob",
        "[NAME]",
    ]
    assert for_call.message(Message.user("jane")) == Message.user("[NAME]")
    assert masker.seen == 2
    # Another call's chain (and the chain itself) redacts afresh.
    assert chain.for_call().text("jane") == "[NAME]"
    assert chain.text("jane") == "[NAME]"
    assert masker.seen == 4


def test_a_calls_chain_masks_a_key_the_client_learns_while_the_call_runs() -> None:
    # A provider adds the key it resolved when the call first builds it, after
    # the span has redacted the prompt: the record, redacted later from what the
    # call's chain remembers, must mask it.
    known, masker = KnownSecrets(), Masker()
    for_call = RedactionChain([known, masker]).for_call()
    prompt = "jane's key is local-key-1234567890"
    assert for_call.text(prompt) == "[NAME]'s key is local-key-1234567890"
    known.add("local-key-1234567890")
    assert for_call.text(prompt) == "[NAME]'s key is [REDACTED]"
    assert for_call.text(prompt) == "[NAME]'s key is [REDACTED]"
    assert masker.seen == 2
