"""bench/mock_server.py speaks each vendor's format as relaykit's own decoders read it.

The benchmarks check every client's answer at warm-up; these checks are the cheap,
server-less part: the canned bytes decode to the expected text and finish, and the
writes of a delayed stream split right after the first text.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

from relaykit.events import Finish, TextDelta, UsageUpdate
from relaykit_anthropic.stream_decoding import MessageStreamDecoder

BENCH = Path(__file__).resolve().parents[1] / "bench"
EXPECTED = " ".join(f"word{i}" for i in range(20))


def _mock_server() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_mock_server", BENCH / "mock_server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_anthropic_message_body() -> None:
    body = json.loads(_mock_server().message_body())
    assert body["type"] == "message"
    assert body["content"] == [{"type": "text", "text": EXPECTED}]
    assert body["stop_reason"] == "end_turn"


def test_anthropic_stream_decodes_to_the_answer() -> None:
    decoder = MessageStreamDecoder(provider="anthropic", model="claude-haiku-4-5")
    events = [e for chunk in _mock_server().message_events() for e in decoder.feed(chunk)]
    events += decoder.flush()
    assert decoder.finished
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == EXPECTED
    assert any(isinstance(e, Finish) for e in events)
    assert any(isinstance(e, UsageUpdate) and e.usage.output_tokens == 20 for e in events)


def test_delayed_stream_splits_after_the_first_text() -> None:
    responses = _mock_server().Responses()
    for parts, marker in [
        (responses.stream_parts, b'"content":"word0"'),
        (responses.message_stream_parts, b'"text":"word0"'),
    ]:
        head, first, rest = parts
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")
        assert marker in first and b"word1" not in first
        assert rest.endswith(b"0\r\n\r\n")


def test_rerank_body_is_what_the_vllm_preset_reads() -> None:
    from relaykit.rerank import RerankRequest
    from relaykit_openai import rerank

    server = _mock_server()
    documents = tuple(f"d{i}" for i in range(server.RERANK_DOCUMENTS))
    request = RerankRequest(model=server.RERANK_MODEL, query="q", documents=documents)
    answer = rerank.parse(json.loads(server.rerank_body()), request, "vllm")
    assert [(r.index, r.score) for r in answer.results] == server.rerank_scores()
    assert answer.usage.input_tokens == 20 * server.RERANK_DOCUMENTS
