"""Apply every configured redactor to what leaves the client (records, logs)."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from .messages import Message, TextPart, ToolResultPart
from .protocols import CallRecord, Redactor


class RedactionChain:
    """Runs redactors in order; the built-in secret redactor is always among them."""

    def __init__(self, redactors: Sequence[Redactor]) -> None:
        self.redactors = tuple(redactors)

    def text(self, text: str) -> str:
        """``text`` after every redactor."""
        for r in self.redactors:
            text = r.redact(text)
        return text

    def message(self, message: Message) -> Message:
        """``message`` with its text and tool results redacted."""
        parts = []
        for p in message.content:
            if isinstance(p, TextPart):
                p = TextPart(self.text(p.text))
            elif isinstance(p, ToolResultPart):
                p = attrs.evolve(p, content=self.text(p.content))
            parts.append(p)
        return Message(message.role, tuple(parts))

    def record(self, record: CallRecord) -> CallRecord:
        """``record`` as it may be stored or exported."""
        return attrs.evolve(
            record,
            messages=tuple(self.message(m) for m in record.messages),
            text=self.text(record.text),
            error_message=self.text(record.error_message) if record.error_message else None,
        )
