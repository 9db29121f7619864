"""The full-text index holds the search words every backend splits, not FTS5's own."""

from __future__ import annotations

import random
import sqlite3

from relaykit.protocols import search_words
from relaykit_sqlite.queries import search_text

#: letters, marks, symbols and emoji of many scripts: Latin with accents, Greek,
#: Cyrillic, Indic vowel signs, CJK punctuation, emoji newer than FTS5's tables
_CODE_POINTS = [
    *range(0x20, 0x3100),
    *range(0x1F300, 0x1FB00),
    0x130,  # İ: two characters lower-cased
]


def _tokens(texts: list[str]) -> list[list[str]]:
    """The tokens the logs table's FTS5 configuration makes of each text."""
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIRTUAL TABLE f USING fts5(t, content='', tokenize='unicode61 remove_diacritics 0')"
    )
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(f, 'instance')")
    conn.executemany("INSERT INTO f (rowid, t) VALUES (?, ?)", enumerate(texts, 1))
    found: list[list[str]] = [[] for _ in texts]
    for doc, term in conn.execute("SELECT doc, term FROM v ORDER BY doc, offset"):
        found[doc - 1].append(term)
    conn.close()
    return found


def test_fts5_indexes_a_text_as_it_indexes_the_reference_words() -> None:
    """What a row is indexed by is what the query's words (search_words, quoted)
    become: FTS5 given search_text finds a row exactly when the reference does.
    FTS5's own tokenizer differed on 4,039 assigned characters: accents dropped
    (``café`` indexed as ``cafe``), combining marks and newer emoji kept inside
    a word (``hi🤖robot`` one word)."""
    texts = [f"x{chr(cp)}y Zürich" for cp in _CODE_POINTS]
    indexed = _tokens([str(search_text(t)) for t in texts])
    queried = _tokens([" ".join(search_words(t)) for t in texts])
    wrong = {t: (i, q) for t, i, q in zip(texts, indexed, queried, strict=True) if i != q}
    assert wrong == {}
    assert indexed[texts.index("x\U0001f916y Zürich")] == ["x", "y", "zürich"]


def test_search_text_is_the_search_words_of_any_text() -> None:
    rng = random.Random(7)
    pool = [chr(c) for c in range(0x20, 0x3100) if not 0xD800 <= c < 0xE000]
    pool += ["\U0001f916", "😀", "İ", "\u0301", "\uffff", *"abc XYZ_-.9" * 60]
    for _ in range(3000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 60)))
        assert str(search_text(text)).split() == search_words(text), repr(text)
    # more separators than are replaced one by one: the translate table's path
    many = " ".join(chr(c) + "ab" for c in range(0x2600, 0x2640))
    assert str(search_text(many)).split() == ["ab"] * 64
    assert search_text(None) is None
