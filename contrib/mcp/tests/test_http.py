"""relaykit-mcp over streamable HTTP: relaykit_mcp.testing's server on loopback (one per
module), its tools in stream_tools on the fake provider; credentials, timeouts, an
unreachable server, the connection's lifetime."""

from __future__ import annotations

import socket
from typing import Any

import anyio
import httpx2
import pytest

import relaykit
from relaykit import DocumentPart, InvalidRequestError, Secret, ToolResultEvent
from relaykit.testing import FakePlugin, Reply
from relaykit_mcp import McpError, McpServer, McpToolError, connect_http
from relaykit_mcp.testing import PDF

CONFIG: dict[str, Any] = {"storage": {"backend": "none"}}
TOKEN = "mcp-test-token-5b7f0c2d9e"  # conftest's
AUTH = {"Authorization": Secret(f"Bearer {TOKEN}")}


@pytest.mark.anyio
async def test_stream_tools_runs_prefixed_tools_and_hears_documents_and_errors(
    http_url: str,
) -> None:
    fake = FakePlugin()
    fake.script.push(
        Reply(
            tool_calls=(
                ("docs_manual", {}),
                ("docs_refuse", {"reason": "not today"}),
                ("docs_docs_search", {"query": "reset"}),
                ("docs_add", {"a": "two"}),  # refused by relaykit, before the server
            )
        ),
        Reply(text="Done."),
    )
    async with (
        relaykit.Client(CONFIG, plugins=[fake]) as client,
        connect_http(http_url, headers=AUTH) as server,
    ):
        tools = await server.tools(
            prefix="docs_", include=["manual", "refuse", "docs.search", "add"]
        )
        assert [t.name for t in tools] == [
            "docs_add",
            "docs_manual",
            "docs_refuse",
            "docs_docs_search",
        ]
        async with client.stream_tools("fake/m", "Read the manual.", tools) as stream:
            heard = [e async for e in stream if isinstance(e, ToolResultEvent)]
    by_name = {e.call.name: e for e in heard}
    manual = by_name["docs_manual"]
    assert manual.content == "Turn it off and on." and not manual.is_error
    assert manual.attachments == (
        DocumentPart(data=PDF, media_type="application/pdf", name="manual.pdf"),
    )
    refused = by_name["docs_refuse"]
    assert refused.is_error and refused.content.startswith("McpToolError: MCP tool refuse failed")
    assert "not today" in refused.content
    # the server is called by its own name, with a dot
    assert by_name["docs_docs_search"].content == "nothing found for reset"
    wrong = by_name["docs_add"]
    assert wrong.is_error and "argument 'a' must be of JSON type integer" in wrong.content
    assert stream.run.text == "Done."


@pytest.mark.anyio
async def test_a_tool_error_raises_with_tool_errors_raise(http_url: str) -> None:
    async with connect_http(http_url, headers=AUTH, name="docs") as server:
        with pytest.raises(McpToolError) as caught:
            await server.call("refuse", {"reason": "closed"})
        assert (caught.value.server, caught.value.tool) == ("docs", "refuse")
        assert await server.call("add", {"a": 2, "b": 2}) == "4"


@pytest.mark.anyio
async def test_an_error_quoting_the_token_of_a_bearer_header_alone_masks_it(http_url: str) -> None:
    # the header's value is a Secret, "Bearer TOKEN"; a server quotes TOKEN alone
    async with connect_http(http_url, headers=AUTH) as server:
        assert await server.call("whoami") == f"signed in with token {TOKEN}"  # the caller's
        with pytest.raises(McpToolError) as caught:
            await server.call("whoami", {"refuse": True})
    assert str(caught.value).endswith("token [REDACTED] may not do that")
    assert TOKEN not in str(caught.value) + repr(caught.value)


@pytest.mark.anyio
async def test_a_wrong_token_is_an_error_that_never_shows_a_token(http_url: str) -> None:
    wrong = "Bearer wrong-token-8d1f3a6b0c"
    with pytest.raises(McpError) as caught:
        async with connect_http(http_url, headers={"Authorization": Secret(wrong)}):
            pytest.fail("connected")
    error = caught.value
    assert error.status == 401
    assert "refused the credentials during initialize" in str(error)
    assert "check the token in headers=" in str(error)
    assert "wrong-token" not in str(error) + repr(error)


@pytest.mark.anyio
async def test_a_slow_tool_times_out_and_the_session_goes_on(http_url: str) -> None:
    async with connect_http(http_url, headers=AUTH, call_timeout=0.2) as server:
        with pytest.raises(McpError) as caught:
            await server.call("slow", {"seconds": 5})
        assert "did not answer tools/call 'slow' within 0.2 s" in str(caught.value)
        assert "(call_timeout=)" in str(caught.value) and caught.value.retryable
        assert await server.call("slow", {"seconds": 0}) == "awake"


@pytest.mark.anyio
async def test_an_unreachable_server_names_the_address() -> None:
    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}/mcp?api_key=query-key-77a9"
    with pytest.raises(McpError) as caught:
        async with connect_http(url, start_timeout=5):
            pytest.fail("connected")
    message = str(caught.value)
    assert "failed during connect: ConnectError" in message
    assert "reachable at that address" in message and "query-key" not in message


@pytest.mark.anyio
async def test_the_callers_errors_pass_through_and_the_server_closes(http_url: str) -> None:
    kept: list[McpServer] = []
    with pytest.raises(KeyError):  # as raised: not wrapped in an exception group
        async with connect_http(http_url, headers=AUTH) as server:
            kept.append(server)
            raise KeyError("mine")
    [server] = kept
    assert repr(server).endswith("closed>")
    with pytest.raises(McpError, match="is closed"):
        await server.call("add", {"a": 1, "b": 1})


@pytest.mark.anyio
async def test_include_naming_a_missing_tool_lists_the_servers_tools(http_url: str) -> None:
    async with connect_http(http_url, headers=AUTH) as server:
        with pytest.raises(InvalidRequestError) as caught:
            await server.tools(include=["add", "sub"])
    assert "has no tool named 'sub'" in str(caught.value)
    listed = "add, chart, manual, refuse, docs.search, slow, big, pid, whoami, crash"
    assert f"its tools are: {listed}" in str(caught.value)


@pytest.mark.anyio
async def test_bad_addresses_are_refused_before_connecting() -> None:
    with pytest.raises(InvalidRequestError, match="needs an http"):
        async with connect_http("ftp://example.test/mcp"):
            pytest.fail("connected")


async def _control(http_url: str, path: str, body: str = "") -> None:
    """Tell relaykit_mcp.testing's server to end its sessions, or want another token."""
    async with httpx2.AsyncClient() as http:
        answer = await http.post(http_url.removesuffix("/mcp") + path, content=body.encode())
        assert answer.status_code == 204


@pytest.mark.anyio
async def test_an_expired_session_is_started_again_and_the_call_goes_through(
    http_url: str,
) -> None:
    async with connect_http(http_url, headers=AUTH, name="docs") as server:
        assert await server.call("add", {"a": 1, "b": 2}) == "3"
        await _control(http_url, "/testing/expire")
        # the server answers 404 to the old session: a new one, and the call again
        assert await server.call("add", {"a": 2, "b": 2}) == "4"
        await _control(http_url, "/testing/expire")
        assert "add" in [t.name for t in await server.tools()]
        assert await server.call("add", {"a": 3, "b": 3}) == "6"


@pytest.mark.anyio
async def test_tools_are_listed_page_after_page_until_a_cursor_comes_again(
    http_url: str,
) -> None:
    # A server that pages its tools/list is read to its last page; one whose page
    # names a cursor already followed (a loop) is read once round, not for ever.
    async with connect_http(http_url, headers=AUTH, name="docs") as server:
        try:
            await _control(http_url, "/testing/pages", "pages")
            paged = [t.name for t in await server.tools()]
            await _control(http_url, "/testing/pages", "cycle")
            with anyio.fail_after(10):
                looped = [t.name for t in await server.tools()]
        finally:
            await _control(http_url, "/testing/pages", "")
        assert "add" in [t.name for t in await server.tools()]
    assert paged == looped == [f"paged_{i}" for i in range(5)]


@pytest.mark.anyio
async def test_a_token_refused_mid_session_names_the_server_and_the_headers(
    http_url: str,
) -> None:
    async with connect_http(http_url, headers=AUTH, name="docs") as server:
        await _control(http_url, "/testing/token", "rotated-token-3c9e")
        try:
            with pytest.raises(McpError) as caught:
                await server.call("add", {"a": 1, "b": 2})
        finally:
            await _control(http_url, "/testing/token", TOKEN)
        error = caught.value
        assert (error.status, error.server) == (401, "docs")
        assert "MCP server 'docs' refused the credentials during tools/call 'add'" in str(error)
        assert "headers" in (error.hint or "") and "JSON-RPC" not in str(error)
        assert TOKEN not in str(error) + repr(error) + str(error.hint)
        assert await server.call("add", {"a": 2, "b": 2}) == "4"


@pytest.mark.anyio
async def test_a_big_result_is_cut_to_max_output_chars_with_a_note(http_url: str) -> None:
    async with connect_http(http_url, headers=AUTH, max_output_chars=1000) as server:
        value = await server.call("big", {"chars": 5000})
    assert isinstance(value, str) and value.startswith("0123456789")
    assert value == value[:1000] + "\n[output truncated: 1000 of 5000 characters]"
    async with connect_http(http_url, headers=AUTH) as server:  # the default: 100,000
        value = await server.call("big", {"chars": 150_000})
    assert isinstance(value, str) and value.endswith(
        "\n[output truncated: 100000 of 150000 characters]"
    )
    assert len(value) == 100_000 + len("\n[output truncated: 100000 of 150000 characters]")


@pytest.mark.anyio
async def test_max_output_chars_must_be_a_positive_whole_number(http_url: str) -> None:
    with pytest.raises(InvalidRequestError, match="max_output_chars must be"):
        async with connect_http(http_url, headers=AUTH, max_output_chars=0):
            pytest.fail("connected")
