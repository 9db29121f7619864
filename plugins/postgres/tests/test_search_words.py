"""The words a row is found by: every backend's, whatever the text holds (no server needed)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relaykit.protocols import search_words
from relaykit_postgres.queries import search_vector

ASCII = st.text(st.characters(max_codepoint=127))


@given(st.one_of(ASCII, st.text()), st.one_of(ASCII, st.text()))
def test_a_row_is_found_by_the_words_every_backend_splits(prompt: str, response: str) -> None:
    words = dict.fromkeys(search_words(f"{prompt} {response}"))
    assert search_vector(prompt, response) == " ".join(f"'{w}'" for w in words)


def test_a_tsvector_keeps_the_first_megabyte_of_words_and_no_overlong_one() -> None:
    long_word = "x" * 2048  # one byte over a lexeme's limit: PostgreSQL would refuse it
    numbers = [str(n) for n in range(300_000)]  # 1.6 MB of distinct words
    vector = search_vector(f"{long_word} {'é' * 1023}", " ".join(numbers))
    kept = vector.split(" ")
    assert kept[0] == f"'{'é' * 1023}'"  # 2,046 bytes, in 1,023 characters: kept
    assert f"'{long_word}'" not in kept
    assert sum(len(w.encode()) - 2 for w in kept) <= (1 << 20) - 1
    assert kept[1:4] == ["'0'", "'1'", "'2'"] and len(kept) > 150_000
