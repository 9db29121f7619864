"""Apply every configured redactor to what leaves the client (records, logs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from .messages import Message, TextPart, ToolCall, ToolResultPart
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
            elif isinstance(p, ToolCall):
                p = self.tool_call(p)
            parts.append(p)
        return Message(message.role, tuple(parts))

    def tool_call(self, call: ToolCall) -> ToolCall:
        """``call`` with every string in its arguments redacted (models echo prompts into them)."""
        return attrs.evolve(
            call,
            arguments=self._value(call.arguments),
            raw_arguments=self.text(call.raw_arguments)
            if call.raw_arguments
            else call.raw_arguments,
        )

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self._value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(v) for v in value]
        return value

    def record(self, record: CallRecord) -> CallRecord:
        """``record`` as it may be stored or exported."""
        return attrs.evolve(
            record,
            messages=tuple(self.message(m) for m in record.messages),
            text=self.text(record.text),
            tool_calls=tuple(self.tool_call(c) for c in record.tool_calls),
            error_message=self.text(record.error_message) if record.error_message else None,
        )
