"""Keep code, docs and tests in step: every hook documented and tested, docs that run."""

from __future__ import annotations

import base64
import inspect
import json
import re
import types
from pathlib import Path

import pytest

import relaykit
from relaykit import hookspecs
from relaykit.plugins import PluginManager

ROOT = Path(__file__).resolve().parents[1]
HOOKS_DOC = ROOT / "docs" / "plugin-hooks.md"
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("relaykit_"))


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_there_are_eleven_hooks() -> None:
    assert len(HOOKS) == 11


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_section_titled_by_its_signature(hook: str) -> None:
    params = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert f"\n## {hook}({params})\n" in HOOKS_DOC.read_text()


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook: str) -> None:
    test_files = [*ROOT.glob("core/tests/test_*.py"), *ROOT.glob("plugins/*/tests/test_*.py")]
    assert any(re.search(rf"def test_{hook}\w*\(", f.read_text()) for f in test_files), (
        f"no test function named test_{hook}..."
    )


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hookspec_is_documented_pytest_style(hook: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert doc.split("\n")[0].endswith(".")
    opts = getattr(hookspecs, hook).relaykit_spec
    if opts.get("firstresult"):
        assert "Stops at first non-None result." in doc


@pytest.mark.parametrize("block", python_blocks(HOOKS_DOC), ids=lambda b: b.split("def ")[-1][:30])
def test_hook_doc_examples_are_valid_plugins(block: str) -> None:
    module = types.ModuleType("doc_example")
    exec(compile(block, str(HOOKS_DOC), "exec"), module.__dict__)
    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    pm.register(module)  # pluggy checks each hookimpl's signature against its spec
    pm.check_pending()
    assert pm.get_hookcallers(module)


def test_public_names_have_docstrings() -> None:
    missing = [
        name
        for name in relaykit.__all__
        if name not in ("__version__", "hookimpl", "converter", "StreamEvent", "ToolRunEvent")
        and not (getattr(relaykit, name).__doc__ or "").strip()
    ]
    assert missing == []


README = ROOT / "README.md"


@pytest.mark.parametrize(
    "block", python_blocks(README), ids=lambda b: b.strip().split("\n")[0][:30]
)
def test_readme_examples_run(
    block: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from relaykit import Citation
    from relaykit.testing import PDF, PNG, OpenAIMock, Reply, mock_audio

    monkeypatch.chdir(tmp_path)
    (tmp_path / "invoice.pdf").write_bytes(PDF)  # the documents example reads it
    (tmp_path / "radar.png").write_bytes(PNG)  # and the tool attachments one this
    # and the speech to text one this: 42 seconds, saying what the mocks hear
    (tmp_path / "memo.wav").write_bytes(mock_audio("Can we move the demo to Thursday?", 42))
    from relaykit_anthropic.testing import AnthropicMock
    from relaykit_cohere.testing import CohereMock

    key = "sk-readme-0123456789abcdef"
    with (
        OpenAIMock(api_key=key) as mock,
        AnthropicMock(api_key=key) as anthropic,
        CohereMock(api_key=key) as cohere,
    ):
        monkeypatch.setenv("CO_API_URL", cohere.base_url)
        monkeypatch.setenv("CO_API_KEY", key)
        monkeypatch.setenv("OPENAI_BASE_URL", mock.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", key)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", key)
        if "tools=" in block:
            mock.script.push(
                Reply(tool_calls=(("get_weather", {"city": "Paris"}),)), Reply(text="Sunny.")
            )
        if "response_format=Ticket" in block:
            ticket = {"summary": "Checkout down", "priority": "urgent", "tags": ["checkout"]}
            mock.script.push(Reply(text=json.dumps(ticket)))
        if "web_search=" in block:
            python = Citation(
                url="https://www.python.org/downloads/", title="Downloads", start=0, end=27
            )
            mock.script.push(
                Reply(
                    text="Python 3.14.1 is the latest, out since December.",
                    citations=(python,),
                    web_searches=1,
                )
            )
        exec(compile(block, str(README), "exec", dont_inherit=True), {"__name__": "__main__"})
    out = capsys.readouterr().out
    assert out.strip(), "the example printed nothing"
    if "unfinished" in block:  # left as "Sunny." began: the tool step whole, the answer not
        lines = out.splitlines()
        assert lines[0] == "1 whole step, then 'Sunny.'"
        assert lines[1].startswith("5 tokens out, USD ") and lines[1].endswith(" (estimated)")
    elif "tools=" in block:
        assert out.strip() == "Sunny."
    if "response_format=Ticket" in block:
        assert out.strip() == "urgent ['checkout']"
    if "web_search=" in block:  # the mock searched python.org and cited its downloads page
        assert out.splitlines()[1:] == [
            "Downloads <https://www.python.org/downloads/>: 'Python 3.14.1 is the latest'",
            f"1 search, USD {out.split()[-1]}",
        ]
        assert json.loads(mock.last_request.body)["tools"] == [
            {"type": "web_search", "filters": {"allowed_domains": ["python.org"]}}
        ]
    if "client.rerank" in block:  # the mock ranked the password passage first
        assert out.splitlines() == [
            "0.35 #1: To reset your password, open Settings, then Security.",
            "0.10 #0: Invoices are emailed on the first working day of each month.",
            "1 search, USD 0.002",
        ]
    if "client.moderate" in block:  # the mock flags the threat, under OpenAI's categories
        assert out.splitlines() == [
            "ok: Thanks, the fix worked!",
            "harassment, harassment/threatening, violence: Do that again and I will kill you.",
            "flagged: True USD 0",
        ]
    if "radar.png" in block:  # the image went with the tool result
        assert base64.b64encode(PNG) in mock.last_request.body
    if "invoice.pdf" in block:  # the mock saw the PDF and answers its question
        assert out.strip() == "echo: What is the total due?"
    if "CachePoint()" in block:  # the first call writes the prefix, the second reads it
        (written, read, _), (written_2, read_2, _) = (line.split() for line in out.splitlines())
        assert int(written) == int(read_2) > 1024 and int(read) == int(written_2) == 0


@pytest.mark.anyio
async def test_the_list_storage_example_pages_by_cursor_as_memory_storage_does() -> None:
    # The example is what a plugin author copies: it must list in the order every
    # backend does and honour a cursor, or `relaykit logs --before` repeats and
    # skips rows on it. Records started at one instant are the hard case.
    from relaykit.protocols import LogQuery
    from relaykit.testing import MemoryStorage
    from relaykit.testing.records import SAME_INSTANT_IDS, make_record

    [block] = [b for b in python_blocks(HOOKS_DOC) if "class ListStorage" in b]
    module = types.ModuleType("doc_example")
    exec(compile(block, str(HOOKS_DOC), "exec"), module.__dict__)
    example, reference = module.ListStorage(), MemoryStorage()
    records = [make_record(n % 3, id=i) for n, i in enumerate(SAME_INSTANT_IDS)]
    for storage in (example, reference):
        await storage.write_batch(records)

    async def pages(storage: object) -> list[list[str]]:
        query, out = LogQuery(limit=4), []
        for _ in SAME_INSTANT_IDS:  # a page a record at most: a cursor ignored repeats one
            page = await storage.query_logs(query)  # type: ignore[attr-defined]
            if not page:
                break
            out.append([r.id for r in page])
            query = query.next_page(page)
        return out

    listed = await pages(example)
    assert listed == await pages(reference)
    assert sorted(i for page in listed for i in page) == sorted(SAME_INSTANT_IDS)
