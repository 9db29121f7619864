"""``--web-search`` on ``relaykit prompt`` and ``relaykit chat``, and what ``relaykit logs``
shows of a call that searched the web."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import ClassVar

import pytest

from relaykit import Citation, WebSearch
from relaykit.cli import main
from relaykit.cli.sources import search_line, source_lines
from relaykit.testing import FakePlugin, FakeProvider, MemoryStorage, Reply

TIDES = Citation(url="https://en.wikipedia.org/wiki/Tide", title="Tide - Wikipedia", start=0, end=5)
#: the same page cited for a second claim, and a page without a title
ANSWER = Reply(
    text="Tides rise twice a day.",
    citations=(
        TIDES,
        Citation(url="https://en.wikipedia.org/wiki/Tide", title="Tide", start=6, end=10),
        Citation(url="https://tides.example/today"),
    ),
    web_searches=2,
    search_queries=("lunar pull, explained", 'why "two" bulges'),
    search_suggestions="<style>.chip{}</style><a class=chip>lunar pull</a>",
)
SEARCHED = [
    'searched the web for "lunar pull, explained"',
    'searched the web for "why \\"two\\" bulges"',
]
SOURCES = [
    "[1] Tide - Wikipedia - https://en.wikipedia.org/wiki/Tide",
    "[2] https://tides.example/today",
]


def test_a_search_line_quotes_its_query_whole() -> None:
    assert search_line("tides\nnow") == 'searched the web for "tides\\nnow"'


@pytest.mark.usefixtures("config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_prompt_shows_each_search_before_the_text_that_follows_it(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The search line is written while the stream runs, before the answer's first text."""
    order: list[str] = []
    monkeypatch.setattr("sys.stdout", _Recorder(order, "out"))
    monkeypatch.setattr("sys.stderr", _Recorder(order, "err"))
    fake = FakePlugin()
    fake.script.push(ANSWER)
    argv = ["--backend", backend, "prompt", "-m", "fake/m", "--web-search", "tides?"]
    assert main(argv, plugins=[fake, MemoryStorage().plugin()]) == 0
    first_text = next(i for i, w in enumerate(order) if w.startswith("out:") and w != "out:")
    assert order.index(f"err:{SEARCHED[0]}\n") < order.index(f"err:{SEARCHED[1]}\n") < first_text


class _Recorder(io.StringIO):
    """A stream that notes each write, tagged, in one list shared with another."""

    def __init__(self, order: list[str], tag: str) -> None:
        super().__init__()
        self._order, self._tag = order, tag

    def write(self, text: str) -> int:
        self._order.append(f"{self._tag}:{text}")
        return super().write(text)


class _Piped(io.StringIO):
    def isatty(self) -> bool:
        return False


class _Unsearched(FakeProvider):
    searches_web: ClassVar[bool] = False


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config with the call log in memory (the test's MemoryStorage) and instant retries."""
    path = tmp_path / "relaykit.toml"
    path.write_text('[storage]\nbackend = "memory"\n\n[retry]\ninitial_wait = 0.01\n')
    monkeypatch.setenv("RELAYKIT_CONFIG", str(path))
    return path


def test_each_page_is_listed_once_with_its_first_title() -> None:
    assert source_lines(ANSWER.citations) == SOURCES
    assert source_lines(()) == []


@pytest.mark.usefixtures("config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
def test_prompt_web_search_prints_the_answer_then_its_sources_on_stderr(
    backend: str, stream: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, storage = FakePlugin(), MemoryStorage()
    fake.script.push(ANSWER)
    argv = ["--backend", backend, "prompt", "-m", "fake/m", "--web-search", "tides?"]
    if not stream:
        argv.append("--no-stream")
    assert main(argv, plugins=[fake, storage.plugin()]) == 0
    out, err = capsys.readouterr()
    assert out == "Tides rise twice a day.\n"  # piping the answer keeps it clean
    # each search as it ran, then the pages; not the suggestions: HTML, for a page to show
    assert err.splitlines() == SEARCHED + SOURCES
    assert fake.calls[0].web_search == WebSearch()
    (record,) = storage.records.values()
    assert record.citations == ANSWER.citations and record.usage.web_searches == 2


@pytest.mark.usefixtures("config")
def test_prompt_json_has_the_citations_and_the_searches(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakePlugin()
    fake.script.push(ANSWER)
    argv = ["prompt", "-m", "fake/m", "--web-search", "--json", "tides?"]
    assert main(argv, plugins=[fake, MemoryStorage().plugin()]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert data["citations"][0] == {
        "url": TIDES.url,
        "title": TIDES.title,
        "cited_text": "",
        "start": 0,
        "end": 5,
    }
    assert len(data["citations"]) == 3 and data["usage"]["web_searches"] == 2
    # for an app to show: Google asks that its suggestions be shown with the answer
    assert data["search_queries"] == list(ANSWER.search_queries)
    assert data["search_suggestions"] == ANSWER.search_suggestions
    assert err == ""  # the JSON says it all


@pytest.mark.usefixtures("config")
def test_an_option_saying_more_wins_over_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakePlugin()
    fake.script.push(ANSWER)
    argv = ["prompt", "-m", "fake/m", "--web-search", "-o", 'web_search={"max_uses": 1}', "q"]
    assert main(argv, plugins=[fake, MemoryStorage().plugin()]) == 0
    assert fake.calls[0].web_search == WebSearch(max_uses=1)


@pytest.mark.usefixtures("config")
def test_without_the_flag_nothing_is_searched_and_no_sources_print(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = FakePlugin()
    assert main(["prompt", "-m", "fake/m", "hi"], plugins=[fake, MemoryStorage().plugin()]) == 0
    assert fake.calls[0].web_search is None
    assert capsys.readouterr().err == ""


@pytest.mark.usefixtures("config")
def test_a_provider_that_cannot_search_is_one_error_line_and_nothing_is_sent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    plain = FakePlugin("plain", provider=_Unsearched)
    argv = ["prompt", "-m", "plain/m", "--web-search", "tides?"]
    assert main(argv, plugins=[plain, MemoryStorage().plugin()]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: plain/m") and err.count("\n") == 1
    assert "cannot search the web" in err
    assert not plain.calls


@pytest.mark.usefixtures("config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_chat_web_search_lists_each_answers_sources(
    backend: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakePlugin()
    fake.script.push(ANSWER, Reply(text="Because of the moon."))
    monkeypatch.setattr("sys.stdin", _Piped("tides?\nwhy?\n"))
    argv = ["--backend", backend, "chat", "-m", "fake/m", "--web-search"]
    assert main(argv, plugins=[fake, MemoryStorage().plugin()]) == 0
    out, err = capsys.readouterr()
    assert out == "Tides rise twice a day.\nBecause of the moon.\n"
    assert err.splitlines() == SEARCHED + SOURCES  # the second answer searched, cited nothing
    assert [c.web_search for c in fake.calls] == [WebSearch(), WebSearch()]


@pytest.mark.usefixtures("config")
def test_logs_show_search_and_total_a_call_that_searched_the_web(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, storage = FakePlugin(), MemoryStorage()
    fake.script.push(ANSWER, Reply(text="No search needed."))
    plugins = [fake, storage.plugin()]
    assert main(["prompt", "-m", "fake/m", "--web-search", "tides?"], plugins=plugins) == 0
    assert main(["prompt", "-m", "fake/m", "hello"], plugins=plugins) == 0
    capsys.readouterr()

    assert main(["logs", "--full", "-q", "wikipedia"], plugins=plugins) == 0
    block = capsys.readouterr().out.splitlines()
    assert "  web searches: 2" in block
    assert '  searched for: "lunar pull, explained", "why \\"two\\" bulges"' in block
    assert not any("chip" in line for line in block)  # suggestions are never recorded
    start = block.index("  sources:")
    assert block[start + 1 :] == [f"    {line}" for line in SOURCES]
    assert main(["logs", "--full", "-q", "hello"], plugins=plugins) == 0
    plain = capsys.readouterr().out
    assert "sources" not in plain and "web searches" not in plain
    assert "searched for" not in plain

    # found by what it searched for
    assert main(["logs", "-q", "bulges lunar"], plugins=plugins) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines()[1:] if line.strip()]
    assert "tides?" in row

    assert main(["logs", "--json", "-q", "tides.example"], plugins=plugins) == 0
    (line,) = capsys.readouterr().out.splitlines()
    logged = json.loads(line)
    assert logged["usage"]["web_searches"] == 2 and len(logged["citations"]) == 3
    assert logged["search_queries"] == list(ANSWER.search_queries)
    assert "search_suggestions" not in logged

    assert main(["logs", "--totals"], plugins=plugins) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-2:] == ["SEARCHES", "COST"]
    assert lines[-1].split()[-2] == "2"
