"""relaykit-pii: the walk of the digit runs after the scan is skipped only where it finds nothing.

A number dialled with "00" and a lower-case IBAN with few digits in a row are
looked for in the text's digit runs after the scan (``_find_in_runs``). Most
texts can hold neither: no "00" in them, no check digits (two letters at a
word's start, two digits). ``_runs_may_hold`` says so from one C-level search
each, and the walk is skipped; what is found must be exactly what the walk
finds, on every text.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from relaykit_pii import PiiRedactor, detectors
from relaykit_pii.detectors import KINDS, _runs_may_hold, _spans_once, char_classes, spans

ALL = frozenset(KINDS)


def _iban(country: str, bban: str) -> str:
    n = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    return f"{country}{98 - n % 97:02d}{bban}"


def _grouped(value: str, sep: str = " ") -> str:
    return sep.join(value[i : i + 4] for i in range(0, len(value), 4))


DUTCH = _iban("NL", "ABNA0417164300")
MALTESE = _iban("MT", "MALT011000012345MTLCAST001S")
GERMAN = _iban("DE", "370400440532013000")
BRITISH = _iban("GB", "WEST12345698765432")


def _walked_again(text: str, kinds: frozenset[str] = ALL) -> list[tuple[str, int, int]]:
    """What ``_spans_once`` finds with the runs walked whatever the text holds."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(detectors, "_runs_may_hold", lambda text, raw, iban, phone: (iban, phone))
        return _spans_once(text, kinds)


# Pieces the two shapes are made of, their near misses, and what stands around them:
# capitals between runs (a run ends at one, the finder's search reads on), runs at
# the text's start and end, values glued into chains, digits of other scripts.
PIECES = [
    DUTCH.lower(),
    _grouped(DUTCH.lower()),
    _grouped(DUTCH.lower(), "-"),
    "nl91-ABNA-0417-1643-00",
    MALTESE.lower(),
    _grouped(MALTESE.lower(), "-"),
    _grouped(MALTESE),
    _grouped(GERMAN.lower()),
    GERMAN.lower(),
    _grouped(BRITISH.lower()),
    "nl91abna0417164301",  # one wrong digit
    "nl00abna0417164300",  # check digits out of range
    "0044 20 7946 0958",
    "0044-20-7946-0958",
    "001 415 555 2671",
    "0033 1 23 45 67 89",
    "00353 1 234 5678",
    "0012 3456 7890",  # no country code
    "0000123456",
    "order 0044 1234",
    "v0044 20 7946 0958",
    "+1 415 555 2671",
    "(415) 555-0100",
    "020 7946 0958",
    "4111 1111 1111 1111",
    "123-45-6789",
    "10.0.0.1",
    "jane@example.com",
    "0044 20 7946 0958@example.com",
    " ext. 42",
    "x42",
    " #7",
    ", extension 1234",
    "NW-20931",
    "CAMP15",
    "AB12 CD34 5678 9012",
    "1234 AB 5678 900",
    "0000000",
    "00 00 00 00",
    "٠٠٤٤ ٢٠ ٧٩٤٦ ٠٩٥٨",  # Arabic-Indic digits
    "０４４ ２０",  # full-width
]
GLUE = ["", " ", "  ", ", ", ". ", "-", "(", ")", "/", "A", "AB ", "x", "é", "\n", " iban "]


@st.composite
def texts(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 8))):
        parts += [draw(st.sampled_from(GLUE)), draw(st.sampled_from(PIECES))]
    parts.append(draw(st.sampled_from(GLUE)))
    return "".join(parts)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"iban {_grouped(DUTCH.lower(), '-')} ok", "iban [IBAN] ok"),
        (f"{DUTCH.lower()}", "[IBAN]"),  # the run at the text's start and end
        (f"pay {MALTESE.lower()}, {_grouped(GERMAN.lower())} and {BRITISH.lower()}", None),
        ("0044 20 7946 0958", "[PHONE]"),
        # extensions with no "00" in the text (no walk: the extensions are still masked)
        ("call +1 415 555 2671 ext. 42, or 020 7946 0958x7", "call [PHONE], or [PHONE]"),
        ("call 0044 20 7946 0958 ext. 42 or 0033 1 23 45 67 89 x7", "call [PHONE] or [PHONE]"),
        ("0044 20 7946 0958, 001 415 555 2671", "[PHONE], [PHONE]"),
        (f"{DUTCH.lower()}, 0044 20 7946 0958", "[IBAN], [PHONE]"),
        # (a group of digits right before a "00" makes it no number's start)
        (f"{DUTCH.lower()} 0044 20 7946 0958", "[IBAN] 0044 20 7946 0958"),
        (f"mail jane@example.com0044 20 7946 0958 {DUTCH.lower()}", None),
        # runs after capitals, inside an email, after a card
        (f"AB 0000123 CD {DUTCH.lower()} 4111 1111 1111 1111 0044 20 7946 0958", None),
        ("0044 20 7946 0958@example.com 0044 20 7946 0958", None),
        ("é 0044 20 7946 0958 é", "é [PHONE] é"),
    ],
)
def test_tricky_texts_find_what_the_walk_finds(text: str, masked: str | None) -> None:
    assert _spans_once(text, ALL) == _walked_again(text)
    assert spans(text, ALL), text
    if masked is not None:
        assert PiiRedactor().redact(text) == masked


KINDS_TRIED = [ALL, frozenset({"iban", "phone"}), frozenset({"phone"}), ALL - {"email"}]


@settings(max_examples=400)
@given(texts(), st.sampled_from(KINDS_TRIED))
@example(f"x{DUTCH.lower()}", ALL)
@example(f"AB{_grouped(DUTCH.lower())}", ALL)
@example("10.0.0.1@0044-20-7946-0958.example.com", ALL)
def test_skipping_the_walk_finds_what_the_walk_finds(text: str, kinds: frozenset[str]) -> None:
    assert _spans_once(text, kinds) == _walked_again(text, kinds)


def test_long_generated_prose_finds_what_the_walk_finds() -> None:
    # Past CLASSES_FROM the text's classes are made once for the scan and the runs.
    rng = random.Random(6)
    words = ["the", "order", "was", "shipped", "on", "Monday", "and", "I", "refund", "OK", "NW"]
    for _ in range(40):
        parts: list[str] = []
        while sum(map(len, parts)) < 2000:
            parts.append(rng.choice(PIECES) if rng.random() < 0.3 else rng.choice(words))
            parts.append(rng.choice(GLUE[1:]))
        text = "".join(parts)
        assert char_classes(text) is not None or not text.isascii()
        assert _spans_once(text, ALL) == _walked_again(text)


def test_the_benchmarks_turns_skip_the_walk_and_the_shapes_do_not() -> None:
    # The realistic turn's runs (an order number after capitals, a card and a
    # phone number after a word) are walked for nothing: no "00", no check digits.
    prose = (
        "I ordered a tent (order NW-20931) and paid with my Visa card 4111 1111 1111 1111."
        " Can I still use the CAMP15 code? My phone number is +44 20 7946 0958."
    )
    assert _runs_may_hold(prose, prose.encode(), True, True) == (False, False)
    for text, holds in [
        (f"{prose} iban {_grouped(BRITISH.lower())}", (True, False)),
        (f"{BRITISH.lower()} {prose}", (True, False)),  # check digits at the text's start
        (f"{prose} _{BRITISH.lower()}", (True, False)),  # after "_", a word's start for them
        (f"{prose} iban {_grouped(DUTCH.lower())}", (True, True)),  # (it ends in "00")
        (f"{prose} or 0044 20 7946 0958", (False, True)),
        (f"é {prose} 0044", (True, True)),  # text that is not ASCII: no search of its words
    ]:
        raw = text.encode("ascii") if text.isascii() else None
        assert _runs_may_hold(text, raw, True, True) == holds, text
        assert _runs_may_hold(text, raw, False, False) == (False, False)
    text = f"{prose} iban {_grouped(DUTCH.lower())}, or call me on 0044 20 7946 0958"
    assert PiiRedactor().redact(text) == (
        "I ordered a tent (order NW-20931) and paid with my Visa card [CARD]. Can I still use"
        " the CAMP15 code? My phone number is [PHONE]. iban [IBAN], or call me on [PHONE]"
    )
