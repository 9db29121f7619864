"""Tool call ids as the Messages API and Bedrock take them: valid, and each once.

The Messages API refuses a ``tool_use`` id outside ``^[a-zA-Z0-9_-]+$``
("messages.1.content.1.tool_use.id: String should match pattern ...") and an id
two ``tool_use`` blocks share ("messages.3.content.0: `tool_use` ids must be
unique"); Bedrock's ``toolUseId`` has the same pattern and at most 64
characters. A conversation from another provider breaks both: Kimi K2's ids
are ``functions.get_weather:0``, and the ids relaykit makes up for providers that
send none (Gemini's ``gemini-call-0``, Ollama's and compatible servers'
``call_0``) start again at 0 in every answer, so a tool run of two steps
repeats them. :class:`ToolIds` (the core's :class:`relaykit.tool_ids.ToolIds`,
whose default characters are Claude's) renames such ids as a request is written,
the same way every time: a result goes back under the id its call was sent with.
"""

from __future__ import annotations

from relaykit.tool_ids import ToolIds

__all__ = ["ToolIds"]
