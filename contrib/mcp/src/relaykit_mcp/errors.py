"""relaykit-mcp's errors: both are :class:`relaykit.RelayError`, so code that catches
relaykit's errors catches these too."""

from __future__ import annotations

from relaykit import RelayError


class McpError(RelayError):
    """An MCP server could not start, went away, answered wrongly or too late.

    ``server`` names the server (the ``name`` given to ``connect_stdio`` or
    ``connect_http``, else its command or URL). Its message carries the
    server's last stderr lines, secrets masked; its hint says what to fix.
    In a tool run, a tool call that fails this way is an error result sent
    to the model, or raised with ``tool_errors="raise"``.
    """

    def __init__(
        self,
        message: str,
        *,
        server: str,
        status: int | None = None,
        retryable: bool | None = None,
        provider_message: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(
            message,
            status=status,
            retryable=retryable,
            provider_message=provider_message,
            hint=hint,
        )
        self.server = server


class McpToolError(McpError):
    """An MCP tool answered with an error result (``isError``): its text, as the
    model reads it in a tool run (or raised, with ``tool_errors="raise"``)."""

    def __init__(self, message: str, *, server: str, tool: str) -> None:
        super().__init__(message, server=server)
        self.tool = tool
