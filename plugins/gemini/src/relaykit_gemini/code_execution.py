"""Gemini's code execution tool (``extra={"tools": [{"codeExecution": {}}]}``): the
code the model ran (``executableCode`` parts) and what it printed
(``codeExecutionResult``), between the answer's text parts.

:class:`~relaykit.ChatResponse` has no field for them and no place for a vendor's
raw parts, so they are rendered into its text (:func:`code_text`), by the
response parser, the stream decoder and grounding's offsets alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def code_text(part: Mapping[str, Any]) -> str | None:
    """The text of a code execution part (``tools: [{"codeExecution": {}}]``), or
    ``None`` for a part of another kind.

    ``ChatResponse`` has no field for the code the model ran or what it printed, and
    dropping them lost the work the answer reports on: an ``executableCode`` part is
    a fenced block named for its language, a ``codeExecutionResult`` one labelled
    with its outcome unless that is ``OUTCOME_OK`` (as Google's first Python SDK
    rendered them in ``.text``). Each block stands on lines of its own, from the
    part alone (a stream renders it without seeing the text before it), so a
    streamed answer's text is the same as a whole one's, and citations count it.
    """
    code = part.get("executableCode")
    if isinstance(code, Mapping):
        language = str(code.get("language") or "").lower()
        if language == "language_unspecified":
            language = ""
        body = str(code.get("code") or "").strip("\n")
    else:
        result = part.get("codeExecutionResult")
        if not isinstance(result, Mapping):
            return None
        outcome = str(result.get("outcome") or "").lower().removeprefix("outcome_")
        language = "" if outcome in ("ok", "unspecified") else outcome
        body = str(result.get("output") or "").rstrip("\n")
    return f"\n```{language}\n{body}\n```\n" if body else f"\n```{language}\n```\n"
