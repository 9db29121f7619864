"""The Gemini mock answers a ``generateContent`` request of any shape, as the API would.

A request whose JSON does not parse into Gemini's messages (a part that is a
number, a ``text`` that is a list, a field a message lacks) is refused with a 400
``INVALID_ARGUMENT`` naming the place, in Google's words. The mock's checks read
such a request with plain lookups, and raised instead (a 500, kept in
``mock.failures``), or took it.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from relaykit.testing import sweep_wrong_shapes
from relaykit_gemini.mock_vertex import VertexMock
from relaykit_gemini.testing import GeminiMock

from .conftest import KEY

#: a conversation with each kind of part a client sends: a system instruction,
#: text and an image, a function call and its response, tools, a tool config and
#: generation settings
BODY: dict[str, Any] = {
    "systemInstruction": {"parts": [{"text": "be brief"}]},
    "contents": [
        {
            "role": "user",
            "parts": [
                {"text": "the weather here?"},
                {
                    "inlineData": {
                        "mimeType": "image/png",
                        "data": base64.b64encode(b"png").decode(),
                    }
                },
                {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/a.png"}},
            ],
        },
        {
            "role": "model",
            "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}],
        },
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "get_weather", "response": {"sky": "sunny"}}}],
        },
    ],
    "tools": [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "the weather in a city",
                    "parametersJsonSchema": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                    },
                }
            ]
        }
    ],
    "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
    "generationConfig": {
        "maxOutputTokens": 50,
        "temperature": 0.5,
        "topP": 0.9,
        "stopSequences": ["END"],
        "seed": 7,
    },
}

#: changes Google's parsing refuses, and its words for each
REFUSED = {
    "contents.0=number": (
        "Invalid value at 'contents[0]' "
        "(type.googleapis.com/google.ai.generativelanguage.v1beta.Content), 7"
    ),
    "contents.0.parts.0=string": (
        "Invalid value at 'contents[0].parts[0]' "
        '(type.googleapis.com/google.ai.generativelanguage.v1beta.Part), "x"'
    ),
    "contents.0.parts.0.text=list": (
        'Invalid JSON payload received. Unknown name "text" at '
        "'contents[0].parts[0]': Proto field is not repeating, cannot start list."
    ),
    "contents.0.parts.0.text=number": (
        "Invalid value at 'contents[0].parts[0].text' (TYPE_STRING), 7"
    ),
    "contents.0.parts.1.inlineData=string": (
        "Invalid value at 'contents[0].parts[1].inline_data' "
        '(type.googleapis.com/google.ai.generativelanguage.v1beta.Blob), "x"'
    ),
    "contents.0.parts.2.fileData.fileUri=number": (
        "Invalid value at 'contents[0].parts[2].file_data.file_uri' (TYPE_STRING), 7"
    ),
    "contents.1.parts.0.functionCall.args=string": (
        "Invalid value at 'contents[1].parts[0].function_call.args' "
        '(type.googleapis.com/google.protobuf.Struct), "x"'
    ),
    "contents.0.role=number": "Invalid value at 'contents[0].role' (TYPE_STRING), 7",
    "systemInstruction=list": (
        'Invalid JSON payload received. Unknown name "systemInstruction": Proto field is not'
        " repeating, cannot start list."
    ),
    "tools.0.functionDeclarations.0.name=object": (
        "Invalid value at 'tools[0].function_declarations[0].name' (TYPE_STRING), {}"
    ),
    "generationConfig.maxOutputTokens=string": (
        "Invalid value at 'generation_config.max_output_tokens' (TYPE_INT32), \"x\""
    ),
    "generationConfig.stopSequences=string": (
        "Invalid value at 'generation_config.stop_sequences' (TYPE_STRING), \"x\""
    ),
}


def post(http: httpx.Client, mock: GeminiMock, body: Any) -> httpx.Response:
    url = f"{mock.base_url}/v1beta/models/gemini-2.5-flash:generateContent"
    return http.post(url, json=body, headers={"x-goog-api-key": KEY})


def test_a_well_formed_request_is_answered(mock: GeminiMock) -> None:
    with httpx.Client(timeout=10) as http:
        r = post(http, mock, BODY)
    assert r.status_code == 200, r.text


def test_a_request_of_the_wrong_shape_is_refused_in_the_apis_words() -> None:
    with GeminiMock(api_key=KEY) as mock, httpx.Client(timeout=10) as http:

        def send(body: dict[str, Any]) -> httpx.Response:
            r = post(http, mock, body)
            if r.status_code == 400:
                assert r.json()["error"]["status"] == "INVALID_ARGUMENT", r.text
            return r

        answered = sweep_wrong_shapes(mock, BODY, send)
    statuses = {name: r.status_code for name, r in answered.items()}
    assert set(statuses.values()) <= {200, 400}, statuses
    for name, message in REFUSED.items():
        assert answered[name].json()["error"]["message"] == message, name


@pytest.mark.parametrize(
    ("where", "field", "message"),
    [
        (
            ("contents", 0, "parts", 0),
            "bold",
            'Invalid JSON payload received. Unknown name "bold" at '
            "'contents[0].parts[0]': Cannot find field.",
        ),
        (
            ("contents", 0),
            "author",
            'Invalid JSON payload received. Unknown name "author" at '
            "'contents[0]': Cannot find field.",
        ),
        (
            ("generationConfig",),
            "max_tokens",
            'Invalid JSON payload received. Unknown name "max_tokens" at '
            "'generation_config': Cannot find field.",
        ),
        (
            ("tools", 0, "functionDeclarations", 0),
            "strict",
            'Invalid JSON payload received. Unknown name "strict" at '
            "'tools[0].function_declarations[0]': Cannot find field.",
        ),
    ],
)
def test_a_field_a_message_lacks_is_refused(
    mock: GeminiMock, where: tuple[Any, ...], field: str, message: str
) -> None:
    body = json.loads(json.dumps(BODY))
    parent = body
    for key in where:
        parent = parent[key]
    parent[field] = 1
    with httpx.Client(timeout=10) as http:
        r = post(http, mock, body)
    assert r.status_code == 400
    assert r.json()["error"]["message"] == message


def test_an_integer_may_be_text_and_null_is_a_field_left_out(mock: GeminiMock) -> None:
    """Protocol buffers' JSON takes an integer written as text, and ``null`` for a
    field left out (a part whose other fields are null holds one field)."""
    body = json.loads(json.dumps(BODY))
    body["generationConfig"]["maxOutputTokens"] = "50"
    body["contents"][0]["parts"][0]["inlineData"] = None
    with httpx.Client(timeout=10) as http:
        r = post(http, mock, body)
    assert r.status_code == 200, r.text


_VERTEX_TOKEN = "ya29.mock-static-token"
_VERTEX = "/v1/projects/mock-project/locations/us-central1/publishers/google/models"


@pytest.mark.parametrize(
    ("vertex", "path"),
    [
        (False, "/v1beta/models/gemini-2.5-flash:generateContent"),
        (False, "/v1beta/models/gemini-2.5-flash:streamGenerateContent"),
        (False, "/v1beta/models/gemini-2.5-flash:countTokens"),
        (False, "/v1beta/models/gemini-embedding-001:batchEmbedContents"),
        (False, "/v1beta/models/gemini-2.5-flash:batchGenerateContent"),
        (True, f"{_VERTEX}/gemini-2.5-flash:generateContent"),
        (True, f"{_VERTEX}/gemini-2.5-flash:countTokens"),
        (True, f"{_VERTEX}/text-embedding-005:predict"),
    ],
)
@pytest.mark.parametrize(
    ("content", "shown"),
    [
        # the text around the place the parse stopped, and a caret under it
        (b"{not json", "{not json\n ^"),
        # (20 characters either side; Google reads no NaN, which Python does)
        (b'{"contents": [], "x": NaN}', 'contents": [], "x": NaN}\n' + " " * 20 + "^"),
        (b'{"t": "NaN", "x": NaN}', '{"t": "NaN", "x": NaN}\n' + " " * 18 + "^"),
        (b"\xff\xfe", "\n^"),
        (b"", "\n^"),
    ],
)
def test_a_body_that_is_no_json_is_refused_in_googles_words(
    vertex: bool, path: str, content: bytes, shown: str
) -> None:
    # Before, each route answered "Invalid JSON payload received." alone.
    if vertex:
        mock: GeminiMock = VertexMock(static_tokens=[_VERTEX_TOKEN])
        headers = {"authorization": f"Bearer {_VERTEX_TOKEN}"}
    else:
        mock, headers = GeminiMock(api_key=KEY), {"x-goog-api-key": KEY}
    with mock, httpx.Client(timeout=10) as http:
        r = http.post(f"{mock.base_url}{path}", content=content, headers=headers)
        assert not mock.failures
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"] == f"Invalid JSON payload received. Unexpected token.\n{shown}"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "Invalid JSON payload received. Unexpected token.\n{not json\n ^"),
        (b"[1]", "Invalid JSON payload received. Expected an object."),
        (b'{"file": "x"}', "Invalid JSON payload received. Expected an object."),
    ],
)
def test_an_uploads_metadata_that_is_no_json_object_is_refused(
    content: bytes, message: str
) -> None:
    # Before, metadata that is no object (or whose file is none) raised: a 500.
    headers = {
        "x-goog-api-key": KEY,
        "x-goog-upload-protocol": "resumable",
        "x-goog-upload-command": "start",
        "x-goog-upload-header-content-length": "10",
    }
    with GeminiMock(api_key=KEY) as mock, httpx.Client(timeout=10) as http:
        r = http.post(f"{mock.base_url}/upload/v1beta/files", content=content, headers=headers)
        assert not mock.failures
    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"] == message
