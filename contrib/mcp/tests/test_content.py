"""MCP tools/call results as relaykit tool values, for content the test server does
not send (audio, links, structured content alone, broken base64), and tool names."""

from __future__ import annotations

import base64

import mcp.types as mt

from relaykit import DocumentPart, ImagePart
from relaykit.testing import PNG
from relaykit_mcp.content import error_text, tool_value
from relaykit_mcp.server import model_name


def result(*content: mt.ContentBlock, structured: object = None) -> mt.CallToolResult:
    return mt.CallToolResult(content=list(content), structured_content=structured)


def test_text_only_is_one_string() -> None:
    value = tool_value(
        result(mt.TextContent(type="text", text="a"), mt.TextContent(type="text", text="b"))
    )
    assert value == "a\nb"


def test_structured_content_alone_is_sent_as_json() -> None:
    assert tool_value(result(structured={"temp": 21, "city": "Zürich"})) == (
        '{"temp": 21, "city": "Zürich"}'
    )


def test_what_relaykit_cannot_attach_is_named_in_the_text() -> None:
    value = tool_value(
        result(
            mt.AudioContent(type="audio", data="AAAA", mime_type="audio/wav"),
            mt.ResourceLink(type="resource_link", name="log", uri="file:///var/log/x.log"),
            mt.ImageContent(type="image", data="not base64!", mime_type="image/png"),
            mt.EmbeddedResource(
                type="resource",
                resource=mt.BlobResourceContents(
                    uri="file:///a.zip", blob="UEsDBA==", mime_type="application/zip"
                ),
            ),
        )
    )
    assert value == (
        "[audio (audio/wav) the tool returned is not shown]\n"
        "[resource log at file:///var/log/x.log]\n"
        "[image/png: not valid base64, not shown]\n"
        "[application/zip file:///a.zip, 4 bytes, not shown]"
    )


def test_image_resources_and_text_documents_are_attachments() -> None:
    png = base64.b64encode(PNG).decode()
    value = tool_value(
        result(
            mt.EmbeddedResource(
                type="resource",
                resource=mt.BlobResourceContents(
                    uri="file:///p.png", blob=png, mime_type="image/png"
                ),
            ),
            mt.EmbeddedResource(
                type="resource",
                resource=mt.BlobResourceContents(
                    uri="file:///n.csv",
                    blob=base64.b64encode(b"a,b").decode(),
                    mime_type="text/csv",
                ),
            ),
        )
    )
    assert value == [
        ImagePart(data=PNG, media_type="image/png"),
        DocumentPart(data=b"a,b", media_type="text/csv", name="n.csv"),
    ]


def test_an_error_results_text_names_its_attachments() -> None:
    png = base64.b64encode(PNG).decode()
    failed = result(
        mt.TextContent(type="text", text="render failed"),
        mt.ImageContent(type="image", data=png, mime_type="image/png"),
    )
    assert error_text(failed) == "render failed\n[image]"
    assert error_text(result()) == "the tool failed and said nothing more"


def test_names_every_provider_takes() -> None:
    assert model_name("github.create_issue") == "github_create_issue"
    assert model_name("fs/read file") == "fs_read_file"
    assert model_name("9lives") == "_9lives"
    long = model_name("x" * 100)
    assert len(long) == 64 and long != model_name("x" * 99)


def test_text_over_the_cap_is_cut_with_a_note() -> None:
    value = tool_value(result(mt.TextContent(type="text", text="x" * 250)), max_chars=100)
    assert value == "x" * 100 + "\n[output truncated: 100 of 250 characters]"
    assert tool_value(result(mt.TextContent(type="text", text="x" * 100)), max_chars=100) == (
        "x" * 100
    )


def test_the_cap_counts_all_the_text_and_keeps_the_attachments() -> None:
    image = mt.ImageContent(
        type="image", data=base64.b64encode(PNG).decode(), mime_type="image/png"
    )
    value = tool_value(
        result(
            mt.TextContent(type="text", text="a" * 60),
            image,
            mt.TextContent(type="text", text="b" * 60),
            mt.TextContent(type="text", text="c" * 60),
        ),
        max_chars=100,
    )
    assert value == [
        "a" * 60,
        ImagePart(data=PNG, media_type="image/png"),
        "b" * 40,
        "[output truncated: 100 of 180 characters]",
    ]


def test_the_configs_default_cap_is_the_connects() -> None:
    from relaykit_mcp.content import DEFAULT_MAX_OUTPUT_CHARS
    from relaykit_mcp.server_config import MAX_OUTPUT_CHARS

    assert MAX_OUTPUT_CHARS == DEFAULT_MAX_OUTPUT_CHARS == 100_000
