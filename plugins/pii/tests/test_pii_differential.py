"""relaykit-pii's detectors against a frozen copy of themselves, on long generated prose.

The detectors are rewritten for speed from time to time; what they find must
not move, but for the rules and shapes added since (``_frozen_spans`` and
``_old_shapes`` name them; values glued to others, found again in a masked copy,
``_spans`` leaves out). ``frozen_detectors.py`` is the implementation at 63ad559, kept as it
was. Seeded random prose of 0.5-20 KB, with personal data, near misses (a card
that fails Luhn, an SSN in 000, an IPv4 address with 256 in it, a "DE44" with
no IBAN after it) and the digits, colons and capitals chat holds, is run
through both, and through the reference alternation (the scan's specification).
"""

from __future__ import annotations

import importlib.util
import pathlib
import random
import re
from collections.abc import Callable
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaykit_pii.detectors import (
    CLASSES_FROM,
    KINDS,
    _glued,
    _spans_once,
    find_pii,
    iban_ok,
    reference_regex,
    scan,
    spans,
)


def _frozen() -> ModuleType:
    # The suite imports test modules by path (--import-mode=importlib), so the
    # reference beside this file is loaded the same way.
    path = pathlib.Path(__file__).with_name("frozen_detectors.py")
    spec = importlib.util.spec_from_file_location("relaykit_pii_frozen_detectors", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FROZEN = _frozen()

_PROSE = (
    "the order was shipped on Monday and I would like a refund for it if it is lost "
    "please call me at home or write to support Thanks OK USA NASA NW CAMP Visa Paris"
)
WORDS = _PROSE.split()


def _luhn(body: str) -> str:
    for check in "0123456789":
        total = 0
        for i, ch in enumerate(reversed(body + check)):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        if total % 10 == 0:
            return body + check
    raise AssertionError


# each country's IBAN length (the detectors check it since the freeze)
IBAN_SIZES = {"DE": 22, "FR": 27, "GB": 22, "NL": 18, "ES": 24, "NO": 15, "RU": 33}


def _iban(rng: random.Random, valid: bool) -> str:
    country = rng.choice(sorted(IBAN_SIZES))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    # the shortest (15 characters) and the longest (34) often: the edges of the pattern
    size = rng.choice([11, 11, 12, rng.randint(13, 25), 26, 30])
    if valid:
        size = IBAN_SIZES[country] - 4
    bban = "".join(rng.choice(alphabet) for _ in range(size))
    n = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    check = 98 - n % 97 if valid else (98 - n % 97 + rng.randint(1, 96)) % 97
    iban = f"{country}{check:02d}{bban}"
    if rng.random() < 0.5:  # printed in groups of four
        iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return iban


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _grouped(rng: random.Random, digits: str) -> str:
    sep = rng.choice(["", " ", "-"])
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


# Each a piece of text: personal data, a near miss, or what prose and chat hold.
PIECES: list[Callable[[random.Random], str]] = [
    # personal data
    lambda r: (
        f"{r.choice(['jane.doe', 'a', 'x_y+z'])}@{r.choice(['example', 'b-c'])}"
        f".{r.choice(['com', 'co.uk', 'io'])}"
    ),
    lambda r: _grouped(
        r, _luhn(r.choice(["4", "51", "37", "6011"]) + _digits(r, r.choice([11, 12, 14])))
    ),
    lambda r: _iban(r, valid=True),
    lambda r: f"{r.randint(1, 899):03d}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}",
    lambda r: ".".join(str(r.randint(0, 255)) for _ in range(4)),
    lambda r: r.choice(
        ["2001:db8::8a2e:370:7334", "fe80::1:2", "::ffff:10.0.0.1", "1:2:3:4:5:6:7:8"]
    ),
    lambda r: f"({r.randint(200, 999)}) {r.randint(200, 999)}-{r.randint(0, 9999):04d}",
    lambda r: f"{r.randint(200, 999)}-{r.randint(200, 999)}-{r.randint(0, 9999):04d}",
    lambda r: (
        f"+{r.choice(['1', '44', '33', '49'])} {r.randint(10, 999)} {r.randint(100, 9999)}"
        f" {r.randint(1000, 9999)}"
    ),
    # the shortest matches, seven characters, between characters none of them holds
    lambda r: (
        r.choice("x,;")
        + r.choice(
            [".".join(str(r.randint(0, 9)) for _ in range(4)), f"+{r.randint(100000, 999999)}"]
        )
        + r.choice("x,;")
    ),
    # near misses
    lambda r: _grouped(r, _digits(r, r.randint(12, 20))),  # most fail Luhn
    lambda r: _iban(r, valid=False),
    lambda r: r.choice(["DE44", "GB82 WEST", "FR76 ", "NL9"]) + _digits(r, r.randint(0, 8)),
    lambda r: f"{r.choice(['000', '666', '900'])}-{r.randint(0, 99):02d}-{r.randint(0, 9999):04d}",
    lambda r: f"{r.randint(256, 999)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(0, 255)}",
    lambda r: ".".join(str(r.randint(0, 255)) for _ in range(r.choice([3, 5]))),
    lambda r: f"+{r.randint(1, 99)} {r.randint(1, 99)}",
    lambda r: f"{r.randint(100, 999)} {r.randint(100, 999)}",
    lambda r: r.choice(["std::vector", "a::b", "::1", "12:30:45", "1:2:", "10:30", "::"]),
    lambda r: r.choice(["a@b", "@decorator", "x @ y", "jane@localhost", "@@", "a@b.c1"]),
    # what prose and chat hold
    lambda r: str(r.randint(0, 10 ** r.randint(1, 6))),
    lambda r: f"{r.randint(1, 12)}. ",
    lambda r: f"v{r.randint(0, 9)}.{r.randint(0, 20)}.{r.randint(0, 9)}",
    lambda r: (
        f"2026-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"
        f"T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}"
    ),
    lambda r: f"{r.random() * 1000:.2f}",
    lambda r: f"order NW-{r.randint(10000, 99999)}",
    lambda r: r.choice(["(", ")", "+", "-", "--", "...", "    ", " - ", "(1)", "[2]", "|"]),
]
SEPARATORS = [" ", " ", " ", "\n", ", ", ". ", ": ", " (", ") ", "\t", "", "-", "."]
NON_ASCII = ["é", "—", "٣", "２", "ü", "’"]


def prose(rng: random.Random, size: int, non_ascii: bool) -> str:
    """About ``size`` characters of words, with pieces of personal data and near misses."""
    parts: list[str] = []
    total = 0
    while total < size:
        roll = rng.random()
        if roll < 0.55:
            part = rng.choice(WORDS)
        elif roll < 0.97 or not non_ascii:
            part = rng.choice(PIECES)(rng)
        else:
            part = rng.choice(NON_ASCII) + rng.choice(["", _digits(rng, rng.randint(1, 4))])
        part += rng.choice(SEPARATORS)
        parts.append(part)
        total += len(part)
    return "".join(parts)


def _frozen_spans(text: str, kinds: frozenset[str]) -> list[tuple[str, int, int]]:
    # What the frozen detectors find, less what the rules added since reject: an
    # IBAN not of its country's length, an IPv4 address after a version marker.
    found: list[tuple[str, int, int]] = FROZEN.spans(text, kinds)
    return [
        (kind, start, end)
        for kind, start, end in found
        if not (kind == "iban" and not iban_ok(text[start:end]))
        and not (kind == "ipv4" and re.search(r"(?i)(?:\bv|\bversion )\Z", text[:start]))
    ]


def _old_shapes(text: str, found: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    # What the detectors find, less the shapes added since the freeze: national
    # phone numbers (a trunk "0", or "00" for the "+"), SSNs without dashes,
    # lower-case or dashed IBANs, IPv4 addresses before a full stop.
    return [
        (kind, start, end)
        for kind, start, end in found
        if not (kind == "phone" and text[start] == "0")  # (and "00" for "+")
        and not (kind == "ipv4" and text.startswith(".", end))
        and not (kind == "phone" and re.search(r"(?i)x\d+\Z", text[start:end]))
        and not (kind == "ssn" and "-" not in text[start:end])
        and not (kind == "iban" and not text[start:end].replace(" ", "").isupper())
        and not (kind == "iban" and "-" in text[start:end])
    ]


def _spans(text: str, kinds: frozenset[str]) -> list[tuple[str, int, int]]:
    # The scan's own finds (a value glued to another one is found again in a
    # masked copy since, test_pii_glued.py holds that): where none is glued,
    # spans() is those finds.
    once = _spans_once(text, kinds)
    if not _glued(text, once):
        assert spans(text, kinds) == once
    return _old_shapes(text, once)


@pytest.mark.parametrize("seed", range(24))
def test_detections_on_long_prose_are_exactly_the_frozen_implementations(seed: int) -> None:
    rng = random.Random(seed)
    size = rng.choice([500, 700, 1_000, 2_000, 5_000, 20_000])
    text = prose(rng, size, non_ascii=seed % 3 == 2)
    # a sparser text too: prose with a piece of data here and there, as most texts are
    sparse = " ".join(
        rng.choice(WORDS) if rng.random() < 0.95 else rng.choice(PIECES)(rng)
        for _ in range(size // 5)
    )
    subset = frozenset(rng.sample(KINDS, rng.randint(1, len(KINDS))))
    for t in (text, sparse):
        for kinds in (frozenset(KINDS), subset):
            assert _spans(t, kinds) == _frozen_spans(t, kinds)
        assert list(find_pii(t)) == spans(t, frozenset(KINDS))
        assert _spans(t, frozenset(KINDS)) == _frozen_spans(t, frozenset(KINDS))


@pytest.mark.parametrize("seed", range(8))
def test_the_scan_on_long_prose_is_the_reference_alternations(seed: int) -> None:
    rng = random.Random(1000 + seed)
    text = prose(rng, rng.choice([1_000, 5_000, 20_000]), non_ascii=seed % 2 == 1)
    for kinds in (frozenset(KINDS), frozenset(rng.sample(KINDS, rng.randint(1, len(KINDS))))):
        expected = [(m.lastgroup, m.span()) for m in reference_regex(kinds).finditer(text)]
        assert [(m.lastgroup, m.span()) for m in scan(text, kinds)] == expected
        pos = rng.randrange(len(text))
        expected = [(m.lastgroup, m.span()) for m in reference_regex(kinds).finditer(text, pos)]
        assert [(m.lastgroup, m.span()) for m in scan(text, kinds, pos)] == expected


def test_the_generated_prose_holds_every_kind_and_near_misses() -> None:
    # The differential tests mean something only if the texts hold what they should.
    rng = random.Random(0)
    text = prose(rng, 20_000, non_ascii=True)
    found = {kind for kind, _, _ in spans(text, frozenset(KINDS))}
    assert found == set(KINDS)
    candidates = sum(1 for _ in reference_regex(frozenset(KINDS)).finditer(text))
    assert candidates > len(spans(text, frozenset(KINDS)))  # some candidates were rejected
    assert any(not c.isascii() for c in text)
    assert 20_000 <= len(text) < 21_000


# Characters the patterns care about, so near misses are common (ASCII: the
# class searches are for ASCII text).
TRICKY = st.text(st.sampled_from(list("0123456789 -.+()@:_/abfAZDE\n")), max_size=60)
piece = st.randoms(use_true_random=False).map(lambda r: r.choice(PIECES)(r))
# Newlines are to every pattern what the start of the text is (no lookbehind or
# \b tells them apart, no match holds one): after them a short text is long
# enough for the scan to search it by its character classes.
PAD = "\n" * CLASSES_FROM


@given(
    st.lists(TRICKY | piece, max_size=8).map("".join), st.sets(st.sampled_from(KINDS), min_size=1)
)
def test_short_tricky_text_searched_by_its_classes_is_found_as_before(
    text: str, kinds: set[str]
) -> None:
    padded, kinds_ = PAD + text, frozenset(kinds)
    expected = [(m.lastgroup, m.span()) for m in reference_regex(kinds_).finditer(padded)]
    assert [(m.lastgroup, m.span()) for m in scan(padded, kinds_)] == expected
    assert _spans(padded, kinds_) == _frozen_spans(padded, kinds_)
    assert [(k, s - len(PAD), e - len(PAD)) for k, s, e in spans(padded, kinds_)] == spans(
        text, kinds_
    )


@pytest.mark.parametrize(
    "text", ["x1.2.3.4x", ",+123456,", "a+1234567;", ";1.2.3.45,", "x1.2.3.", "NL91ABNA0417164300"]
)
def test_the_shortest_matches_searched_by_their_classes(text: str) -> None:
    # Seven characters of the digit kinds' own, and nothing more on either side.
    padded, kinds = PAD + text, frozenset(KINDS)
    expected = [(m.lastgroup, m.span()) for m in reference_regex(kinds).finditer(padded)]
    assert [(m.lastgroup, m.span()) for m in scan(padded, kinds)] == expected
    assert _spans(padded, kinds) == _frozen_spans(padded, kinds)


# ASCII text's first pass (_find_ascii) merges the kinds' matches itself and
# hands the text to the general passes where a digit run is no number or more
# than one; other text takes the general passes alone. Each text here, and the
# same with a non-ASCII character after it (the general passes), must be found
# as before: kinds at the text's start and end, kinds whose matches overlap
# (the leftmost wins, the earlier kind on a tie, the other searches again
# after it), and runs handed over at their start or in their middle.
EDGES = [
    "4111 1111 1111 1111",
    "jane@example.com",
    "4111111111111111@example.com",
    "x4111111111111111@example.com and 4111 1111 1111 1111",
    "jane@example.com4111111111111111",
    "DE89 3704 0044 0532 0130 00",
    "DE89370400440532013000 4111 1111 1111 1111",
    "::ffff:192.168.1.1",
    "at ::1:10: it, 2001:db8::1 and 10.0.0.1",
    "order 42 4111 1111 1111 1111 42 10.0.0.1",
    "001-01-0001 42 10::10",
    "1234 5678 9012 3456 and +44 20 7946 0958",
    "1234 5678 9012 3456",
    "+44 20 7946 0958",
    "(415) 555-0100",
    "415-555-0100 123-45-6789 192.168.0.1",
    "a@b.co 123-45-6789@x.io",
    "NL91ABNA0417164300 NL91 ABNA 0417 1643 00",
    "NW-20931 CAMP15 GB82 WEST 1234 5698 7654 32",
    "0 1 0 0 1 1 0 1 0 0 1 0 1 1 0 1 0 0 1 0 1 1 0 1",
]


@pytest.mark.parametrize("text", EDGES)
def test_ascii_first_pass_and_the_general_passes_find_what_the_frozen_one_does(text: str) -> None:
    for kinds in [frozenset(KINDS), *(frozenset(KINDS) - {kind} for kind in KINDS)]:
        for t in (text, f"{text} é", f"é {text}", f"{text}\n{text}"):
            assert _spans(t, kinds) == _frozen_spans(t, kinds), (t, kinds)


@given(
    st.lists(TRICKY | piece, max_size=8).map("".join), st.sets(st.sampled_from(KINDS), min_size=1)
)
def test_ascii_text_is_found_as_the_general_passes_find_it(text: str, kinds: set[str]) -> None:
    # The same text with a non-ASCII character before it takes the general passes.
    kinds_ = frozenset(kinds)
    general = [(k, s - 2, e - 2) for k, s, e in spans(f"é {text}", kinds_)]
    assert spans(text, kinds_) == general
    assert _spans(text, kinds_) == _frozen_spans(text, kinds_)
