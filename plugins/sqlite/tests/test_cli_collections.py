"""``relaykit embed-multi``, ``similar`` and ``collections`` through the CLI's main(),
on real SQLite files, with vectors from the loopback OpenAI mock."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from relaykit.cli.main import main
from relaykit.testing import OpenAIMock, Reply, mock_vector

KEY = "sk-cli-collections-0123456789abcdef"
MODEL = "openai/text-embedding-3-small"
ROWS = {
    "pw": "How do I reset my password?",
    "inv": "Invoices are emailed monthly.",
    "ship": "Orders ship within two days.",
}


class _Stdin(io.StringIO):
    def isatty(self) -> bool:
        return False


@pytest.fixture
def mock(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[OpenAIMock]:
    with OpenAIMock(api_key=KEY) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        config = tmp_path / "relaykit.toml"
        config.write_text('[storage]\nbackend = "none"\n')
        monkeypatch.setenv("RELAYKIT_CONFIG", str(config))
        yield server


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "embeddings.db")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def sent(mock: OpenAIMock) -> list[list[str]]:
    return [json.loads(r.body)["input"] for r in mock.requests if r.path.endswith("/embeddings")]


def ranked(query: str, texts: dict[str, str]) -> list[str]:
    probe = mock_vector(query)

    def score(i: str) -> float:
        v = mock_vector(texts[i])
        dot = sum(x * y for x, y in zip(probe, v, strict=True))
        return dot / (math.hypot(*probe) * math.hypot(*v))

    return sorted(texts, key=lambda i: -score(i))


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_embed_a_csv_then_search_it(
    backend: str, mock: OpenAIMock, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_file = tmp_path / "faq.csv"
    csv_file.write_text("id,title,body\n" + "".join(f"{i},{t},\n" for i, t in ROWS.items()))
    argv = ["--backend", backend, "embed-multi", "faq", str(csv_file), "-m", MODEL, "-d", db]
    assert run(capsys, *argv, "--store") == (0, "faq: embedded 3, 0 unchanged\n", "")
    assert run(capsys, *argv)[1] == "faq: embedded 0, 3 unchanged\n"
    assert sent(mock) == [list(ROWS.values())]  # the second run sent nothing

    code, out, _ = run(capsys, "--backend", backend, "similar", "faq", "my password", "-d", db)
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[1] for line in lines] == ranked("my password", ROWS)
    assert lines[0].endswith(ROWS[lines[0].split()[1]])  # the stored text
    code, out, _ = run(capsys, "similar", "faq", "-i", "pw", "-n", "1", "--json", "-d", db)
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert row["id"] == ranked(ROWS["pw"], {k: v for k, v in ROWS.items() if k != "pw"})[0]
    assert row["content"] == ROWS[row["id"]] and row["metadata"] is None
    assert len(sent(mock)) == 2  # the query by TEXT; -i calls no model


def test_json_lines_with_metadata_prefix_and_stdin(
    mock: OpenAIMock, db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        {"id": "a", "text": "alpha text", "metadata": {"page": 1}},
        {"key": "b", "title": "beta", "n": 2},
    ]
    monkeypatch.setattr("sys.stdin", _Stdin("\n".join(json.dumps(x) for x in lines) + "\n"))
    argv = ["embed-multi", "docs", "-", "-m", MODEL, "-d", db, "--prefix", "p/"]
    code, out, err = run(capsys, *argv, "--metadata", '{"source": "s", "page": 0}', "--store")
    assert (code, err) == (0, "")
    assert sent(mock) == [["alpha text", "beta 2"]]  # the first key (or `id`) is the id
    code, out, _ = run(capsys, "similar", "docs", "-i", "p/a", "--json", "-d", db)
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert row == {
        "id": "p/b",
        "score": pytest.approx(row["score"]),
        "content": "beta 2",
        "metadata": {"source": "s", "page": 0},
    }
    code, out, _ = run(capsys, "similar", "docs", "-i", "p/b", "--json", "-d", db)
    assert json.loads(out)["metadata"] == {"source": "s", "page": 1}  # the item's own wins


def test_files_under_a_directory(
    mock: OpenAIMock, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.md").write_text("# Alpha\n")
    (docs / "sub" / "b.md").write_text("Beta notes")
    (docs / "empty.md").write_text("\n")
    (docs / "c.txt").write_text("not matched")
    argv = ["embed-multi", "notes", "--files", str(docs), "**/*.md", "-m", MODEL, "-d", db]
    code, out, err = run(capsys, *argv)
    assert (code, out, err) == (0, "notes: embedded 2, 0 unchanged\n", "skipped 1 empty file(s)\n")
    assert sent(mock) == [["# Alpha\n", "Beta notes"]]
    code, out, _ = run(capsys, "similar", "notes", "-i", "a.md", "--json", "-d", db)
    assert json.loads(out)["id"] == "sub/b.md"


def test_collections_add_list_path_and_delete(
    mock: OpenAIMock, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    add = ["collections", "add", "faq", "pw", ROWS["pw"], "-m", MODEL, "-d", db, "--store"]
    assert run(capsys, *add)[1] == "faq: pw embedded\n"
    assert run(capsys, *add)[1] == "faq: pw unchanged\n"
    assert run(capsys, "collections", "add", "faq", "inv", ROWS["inv"], "-d", db)[0] == 0
    out = run(capsys, "collections", "list", "-d", db)[1]
    assert out.split("\n")[1].split() == ["faq", MODEL, "2"]
    out = run(capsys, "collections", "list", "--json", "-d", db)[1]
    assert json.loads(out) == {"name": "faq", "model": MODEL, "count": 2}
    assert run(capsys, "collections", "path", "-d", db)[1] == db + "\n"
    assert run(capsys, "collections", "delete", "faq", "-d", db)[1] == "deleted collection faq\n"
    assert run(capsys, "collections", "list", "-d", db)[1:] == ("", f"no collections in {db}\n")


def test_the_default_file_is_beside_the_call_log(
    mock: OpenAIMock, capsys: pytest.CaptureFixture[str]
) -> None:
    from relaykit.config import user_config_dir

    assert run(capsys, "collections", "path")[1] == f"{user_config_dir() / 'embeddings.db'}\n"


def test_the_default_embedding_model_creates_a_collection(
    mock: OpenAIMock, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text(f'[storage]\nbackend = "none"\n[defaults]\nembedding_model = "{MODEL}"\n')
    assert run(capsys, "collections", "add", "faq", "pw", ROWS["pw"], "-d", db)[0] == 0
    assert json.loads(run(capsys, "collections", "list", "--json", "-d", db)[1])["model"] == MODEL


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["similar", "nope", "text"], "no collection named 'nope'"),
        (["similar", "faq"], "give the TEXT to compare with, or -i ID"),
        (["similar", "faq", "text", "-i", "pw"], "give the TEXT to compare with, or -i ID"),
        (["similar", "faq", "-i", "missing"], "collection 'faq' has no item 'missing'"),
        (
            ["collections", "add", "faq", "x", "text", "-m", "openai/text-embedding-3-large"],
            "holds vectors from openai/text-embedding-3-small, not openai/text-embedding-3-large",
        ),
        (["collections", "add", "new", "x", "text"], "no embedding model given"),
        (["collections", "add", "faq", "x", " "], "'x' has no text to embed"),
        (["collections", "add", "faq", "x", "t", "--metadata", "[1]"], "not an object"),
        (["collections", "delete", "nope"], "no collection named 'nope'"),
        (["embed-multi", "faq", "BAD.json"], "BAD.json is not JSON"),
        (["embed-multi", "faq", "BAD.csv"], "needs a header row of two columns"),
        (["embed-multi", "faq", "EMPTY.csv"], "EMPTY.csv is empty"),
        (["embed-multi", "faq", "BLANK.tsv"], "BLANK.tsv is empty"),
        (["embed-multi", "faq", "missing.csv"], "cannot read missing.csv"),
        (["embed-multi", "faq", "--files", "nodir", "*"], "nodir is not a directory"),
        # a blank DIR was the current directory; a blank or absolute GLOB a traceback
        (["embed-multi", "faq", "--files", "", "*"], "--files: the DIR is blank"),
        (["embed-multi", "faq", "--files", ".", ""], "--files: the GLOB is blank"),
        (["embed-multi", "faq", "--files", ".", "/etc/*.conf"], "--files: GLOB '/etc/*.conf'"),
        (["embed-multi", "faq", "--files", ".", "a**b"], "--files: GLOB 'a**b' is not a pattern"),
        (["embed-multi", "faq", "BAD.csv", "--batch-size", "0"], "--batch-size is 0"),
    ],
)
def test_mistakes_are_one_line_typed_errors(
    argv: list[str],
    message: str,
    mock: OpenAIMock,
    db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "BAD.json").write_text('{"id": "x", "text": "an object, not an array"')
    (tmp_path / "BAD.csv").write_text("just-one-column\nx\n")
    (tmp_path / "EMPTY.csv").write_text("")
    (tmp_path / "BLANK.tsv").write_text("\n\n")
    assert run(capsys, "collections", "add", "faq", "pw", ROWS["pw"], "-m", MODEL, "-d", db)[0] == 0
    before = len(mock.requests)
    code, out, err = run(capsys, *argv, "-d", db)
    assert code != 0 and out == ""
    assert err.startswith("error: ") and message in err, err
    assert len(err.splitlines()) == 1 and "(" in err  # one line, with the fix
    assert len(mock.requests) == before


@pytest.mark.parametrize("surrogates", [False, True])
def test_stdin_that_is_not_utf8_is_a_typed_error_naming_the_byte(
    surrogates: bool,
    mock: OpenAIMock,
    db: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = b"id,text\nx,caf\xe9\n"  # a Latin-1 é, at byte 14
    # strict UTF-8 (a UTF-8 locale) or surrogateescape (the C locale) decoding
    errors = "surrogateescape" if surrogates else "strict"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data), "utf-8", errors))
    code, out, err = run(capsys, "embed-multi", "faq", "-m", MODEL, "-d", db)
    assert (code, out) == (1, "")
    assert err.startswith("error: stdin is not UTF-8 text (byte 14)"), err
    assert "iconv -f LATIN1 -t UTF-8 | relaykit embed-multi" in err
    assert len(err.splitlines()) == 1 and mock.requests == []


def test_ids_texts_and_metadata_holding_lone_surrogates_are_printed_escaped(
    mock: OpenAIMock, db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # JSON lines may carry half an emoji (a \ud83d escape): stored now, so printed
    # too, as its backslash escape (in --json lines: the JSON escape, parsed back)
    odd: dict[str, object] = {
        "id": "half \ud83d",
        "text": "a text with half \ud83d an emoji",
        "metadata": {"k": "\udfff"},
    }
    items: list[dict[str, object]] = [odd, {"id": "other", "text": "another text"}]
    monkeypatch.setattr("sys.stdin", _Stdin("".join(json.dumps(i) + "\n" for i in items)))
    assert run(capsys, "embed-multi", "docs", "-", "-m", MODEL, "-d", db, "--store")[0] == 0
    code, out, _ = run(capsys, "similar", "docs", "-i", "other", "-d", db)
    assert code == 0 and "half \\ud83d  a text with half \\ud83d an emoji" in out
    code, out, _ = run(capsys, "similar", "docs", "-i", "other", "--json", "-d", db)
    assert code == 0
    found = json.loads(out)
    assert (found["id"], found["content"], found["metadata"]) == (
        odd["id"],
        odd["text"],
        odd["metadata"],
    )


@pytest.mark.parametrize(
    ("name", "content", "where"),
    [
        (
            "big.csv",
            "id,text\n" + "".join(f"{i},{'' if i == 230 else f'text {i}'}\n" for i in range(250)),
            "row 232",  # the header is row 1
        ),
        (
            "big.jsonl",
            "".join(
                json.dumps({"id": i, "text": " " if i == 230 else f"text {i}"}) + "\n"
                for i in range(250)
            ),
            "line 231",
        ),
    ],
)
def test_an_item_without_text_is_refused_before_anything_is_embedded(
    name: str,
    content: str,
    where: str,
    mock: OpenAIMock,
    db: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A bad row far into a big file: refused naming its row before the first
    # request, not after two batches of 100 were embedded, billed and stored.
    items = tmp_path / name
    items.write_text(content)
    argv = ["embed-multi", "faq", str(items), "-m", MODEL, "-d", db, "--batch-size", "100"]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (1, "")
    assert err.startswith(f"error: {items} {where} (id '230') has no text to embed"), err
    assert len(err.splitlines()) == 1 and "(leave the item out, or give it a text)" in err
    assert sent(mock) == []
    assert not Path(db).exists() or run(capsys, "collections", "list", "-d", db)[1] == ""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_failure_midway_says_what_was_kept_and_a_second_run_resumes(
    backend: str,
    mock: OpenAIMock,
    db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RELAYKIT_RETRY_ATTEMPTS", "1")
    items = tmp_path / "big.csv"
    texts = [f"text number {i}" for i in range(300)]
    items.write_text("id,text\n" + "".join(f"{i},{t}\n" for i, t in enumerate(texts)))
    argv = ["--backend", backend, "embed-multi", "faq", str(items), "-m", MODEL, "-d", db]
    argv += ["--batch-size", "100"]
    mock.script.push(Reply(), Reply(), Reply.failure(429, "slow down"))
    code, out, err = run(capsys, *argv)
    assert (code, out) == (1, "")
    # The error, and what the batches before it stored, so that nobody takes the
    # run for lost (or, worse, for done): a second run embeds only the rest.
    assert err.splitlines() == [
        "faq: embedded 200 (kept) before the error; run the command again to embed the rest",
        "error: openai/text-embedding-3-small: HTTP 429: slow down",
    ], err
    assert run(capsys, *argv) == (0, "faq: embedded 100, 200 unchanged\n", "")
    assert sent(mock)[-1] == texts[200:]


def test_an_id_given_twice_is_said_not_dropped_silently(
    mock: OpenAIMock, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = tmp_path / "dup.csv"
    items.write_text("id,text\na,first a\nb,only b\na,second a\nc,only c\nc,last c\n")
    code, out, err = run(capsys, "embed-multi", "faq", str(items), "-m", MODEL, "-d", db)
    assert (code, out) == (0, "faq: embedded 3, 0 unchanged\n")
    assert err == f"{items}: 2 ids given more than once ('a', 'c'): the last text of each is kept\n"
    assert sent(mock) == [["only b", "second a", "last c"]]


@pytest.mark.parametrize(
    "argv",
    [["collections", "list"], ["collections", "path"], ["similar", "faq", "hi"]],
)
def test_a_blank_database_is_refused_not_taken_for_the_default(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``-d "$DB"`` with DB unset used the default embeddings file instead."""
    code, out, err = run(capsys, *argv, "-d", "")
    assert (code, out) == (2, "")
    assert "argument -d/--database: the value is blank" in err, err
