"""relaykit-pii: checksummed detection, masks, reversible placeholders, streams split anywhere."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import relaykit
from relaykit import TextDelta, hookimpl
from relaykit.config import Config
from relaykit.outbound_redaction import StreamRestorer
from relaykit.protocols import CallRecord
from relaykit.response import ChatResponse
from relaykit.testing import FakePlugin, Reply
from relaykit_pii import PiiRedactor, ReversiblePiiRedactor, find_pii
from relaykit_pii.detectors import (
    CLASSES_FROM,
    KINDS,
    _checksummed_run,
    char_classes,
    iban_ok,
    luhn_ok,
    reference_regex,
    scan,
)

# -- generators of valid personal data ----------------------------------------------


def with_luhn(body: str) -> str:
    for check in "0123456789":
        if luhn_ok(body + check):
            return body + check
    raise AssertionError


def with_iban_check(country: str, bban: str) -> str:
    n = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    return f"{country}{98 - n % 97:02d}{bban}"


DIGITS = "0123456789"
cards = st.sampled_from(["4", "51", "37", "6011"]).flatmap(
    lambda p: st.text(DIGITS, min_size=15 - len(p), max_size=15 - len(p)).map(
        lambda b: with_luhn(p + b)
    )
)
spaced_cards = cards.map(lambda c: " ".join(c[i : i + 4] for i in range(0, len(c), 4)))
# each country's IBANs have its own length: Germany's and Britain's 22, France's 27,
# the Netherlands' 18, Spain's 24, Norway's 15 (the shortest), Russia's 33
IBAN_SIZES = {"DE": 22, "FR": 27, "GB": 22, "NL": 18, "ES": 24, "NO": 15, "RU": 33}
upper_ibans = st.sampled_from(sorted(IBAN_SIZES)).flatmap(
    lambda c: st.text(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + DIGITS,
        min_size=IBAN_SIZES[c] - 4,
        max_size=IBAN_SIZES[c] - 4,
    ).map(lambda b: with_iban_check(c, b))
)
# printed in dashed groups; or lower-case, found from their digits (the check
# digits and at least 13 digits after them)
dashed_ibans = upper_ibans.map(lambda i: "-".join(i[k : k + 4] for k in range(0, len(i), 4)))
lower_ibans = (
    st.sampled_from(["DE", "FR", "ES", "NO"])
    .flatmap(
        lambda c: st.text(DIGITS, min_size=IBAN_SIZES[c] - 4, max_size=IBAN_SIZES[c] - 4).map(
            lambda b: with_iban_check(c, b)
        )
    )
    .flatmap(
        lambda i: st.sampled_from(["", " ", "-"]).map(
            lambda sep: sep.join(i[k : k + 4] for k in range(0, len(i), 4)).lower()
        )
    )
)
# With a bank code of letters (Britain, Ireland, Bulgaria, Latvia, Gibraltar),
# in any case: found from the digits after the letters (13 or more of them).
LETTERED_SIZES = {"GB": 22, "IE": 22, "BG": 22, "LV": 21, "GI": 23}
CASES = [str.lower, str.title, lambda i: i[:4].lower() + i[4:], str.upper]


def _lettered(country: str, bank: str, digits: str, sep: str, case: Any) -> str:
    iban = with_iban_check(country, bank + digits)
    return str(case(sep.join(iban[k : k + 4] for k in range(0, len(iban), 4))))


lettered_ibans = st.sampled_from(sorted(LETTERED_SIZES)).flatmap(
    lambda c: st.builds(
        _lettered,
        st.just(c),
        st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=4, max_size=4),
        st.text(DIGITS, min_size=LETTERED_SIZES[c] - 8, max_size=LETTERED_SIZES[c] - 8),
        st.sampled_from(["", " "]),
        st.sampled_from(CASES),
    )
)
ibans = st.one_of(upper_ibans, dashed_ibans, lower_ibans, lettered_ibans)
ssn_parts = st.tuples(
    st.integers(1, 899).filter(lambda a: a != 666), st.integers(1, 99), st.integers(1, 9999)
)
ssns = st.one_of(
    ssn_parts.map(lambda t: f"{t[0]:03d}-{t[1]:02d}-{t[2]:04d}"),
    # without dashes, only after a label
    st.tuples(st.sampled_from(["SSN ", "SSN: ", "social security number "]), ssn_parts).map(
        lambda t: f"{t[0]}{t[1][0]:03d}{t[1][1]:02d}{t[1][2]:04d}"
    ),
)
emails = st.tuples(
    st.from_regex(r"[a-z][a-z0-9._+\-]{0,15}[a-z0-9]", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9\-]{0,10}[a-z0-9]", fullmatch=True),
    st.sampled_from(["com", "org", "co.uk", "io", "de"]),
).map(lambda t: f"{t[0]}@{t[1]}.{t[2]}")
phones = st.one_of(
    st.tuples(st.integers(200, 999), st.integers(200, 999), st.integers(0, 9999)).map(
        lambda t: f"({t[0]}) {t[1]}-{t[2]:04d}"
    ),
    st.tuples(
        st.sampled_from(["+1", "+44", "+33", "+49"]),
        st.integers(10, 999),
        st.integers(1000, 9999),
        st.integers(1000, 9999),
    ).map(lambda t: f"{t[0]} {t[1]} {t[2]} {t[3]}"),
    # national, with the trunk 0: British, German, French
    st.tuples(st.integers(10, 99), st.integers(1000, 9999), st.integers(0, 9999)).map(
        lambda t: f"0{t[0]} {t[1]} {t[2]:04d}"
    ),
    st.tuples(st.integers(1000, 9999), st.integers(100000, 9999999)).map(
        lambda t: f"0{t[0]} {t[1]}"
    ),
    st.lists(st.integers(0, 99), min_size=4, max_size=4).flatmap(
        lambda t: st.integers(1, 9).map(lambda a: f"0{a} " + " ".join(f"{n:02d}" for n in t))
    ),
)
ipv4s = st.ip_addresses(v=4).map(str)
ipv6s = (
    st.ip_addresses(v=6)
    .map(lambda a: a.exploded if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped else str(a))
    .filter(lambda s: len(s) >= 6 and sum(1 for g in s.split(":") if g) >= 2)
)
PII = {
    "email": emails,
    "card": st.one_of(cards, spaced_cards),
    "iban": ibans,
    "ssn": ssns,
    "ipv4": ipv4s,
    "ipv6": ipv6s,
    "phone": phones,
}
SEPARATORS = st.sampled_from([" ", "\n", ", ", ": ", " (", ") ", "\t"])
words = st.lists(
    st.sampled_from(["the", "order", "Paris", "is", "ready", "for", "you", "42", "ok"]), max_size=6
).map(" ".join)
any_pii = st.one_of(*PII.values())


@st.composite
def texts_with_pii(draw: st.DrawFn) -> tuple[str, list[str]]:
    pieces, secrets = [draw(words)], []
    for _ in range(draw(st.integers(1, 4))):
        value = draw(any_pii)
        secrets.append(value)
        pieces += [draw(SEPARATORS), value, draw(SEPARATORS), draw(words)]
    return "".join(pieces), secrets


# -- detectors ---------------------------------------------------------------------


# Text built from the characters the patterns care about, so that near misses
# (a digit run one short, a colon too many, a "+" before a letter) are common.
TRICKY = st.text(
    st.sampled_from(list("0123456789 -.+()@:_/abfAZDE\n")) | st.sampled_from(["٣", "é"]),
    max_size=60,
)
fragments = st.one_of(any_pii, words, SEPARATORS, TRICKY, st.sampled_from(["::", "1:2:", "DE44"]))


@given(
    st.lists(fragments, max_size=8).map("".join),
    st.sets(st.sampled_from(KINDS), min_size=1),
    st.integers(0, 40),
)
def test_fast_scan_finds_exactly_what_the_reference_alternation_finds(
    text: str, kinds: set[str], pos: int
) -> None:
    # The fast scan skips ahead per kind; it must never skip a match, nor pick a
    # different one where two kinds could start at the same place. From a later
    # position, it must see the text before it as finditer does (lookbehinds).
    kinds_ = frozenset(kinds)
    expected = [(m.lastgroup, m.span()) for m in reference_regex(kinds_).finditer(text)]
    assert [(m.lastgroup, m.span()) for m in scan(text, kinds_)] == expected
    pos = min(pos, len(text))
    expected = [(m.lastgroup, m.span()) for m in reference_regex(kinds_).finditer(text, pos)]
    assert [(m.lastgroup, m.span()) for m in scan(text, kinds_, pos)] == expected


@given(st.text("0123456789", min_size=1, max_size=25) | st.text("٠١٢٣٤٥٦٧٨٩1", min_size=1))
def test_luhn_agrees_with_the_textbook_definition(digits: str) -> None:
    values = [int(c) for c in reversed(digits)]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(values))
    assert luhn_ok(digits) == (total % 10 == 0)


def test_checksums() -> None:
    assert luhn_ok("4111111111111111")
    assert not luhn_ok("4111111111111112")
    assert iban_ok("DE89 3704 0044 0532 0130 00")
    assert not iban_ok("DE88 3704 0044 0532 0130 00")
    assert iban_ok("GB82WEST12345698765432")


@pytest.mark.parametrize(
    "text",
    [
        "order 4111 1111 1111 1112 shipped",  # fails Luhn
        "DE88 3704 0044 0532 0130 00",  # fails mod 97
        "at 12:30:45 on 2026-11-22",
        "std::vector<int> and a::b",
        "version 1.2.3 of 10.0",
        "999-12-3456 is not an SSN",
    ],
)
def test_lookalikes_are_left_alone(text: str) -> None:
    assert list(find_pii(text)) == []


@pytest.mark.parametrize("kind", sorted(PII))
@given(data=st.data())
def test_each_kind_is_found(kind: str, data: st.DataObject) -> None:
    value = data.draw(PII[kind])
    found = [(k, s, e) for k, s, e in find_pii(f"see {value} now")]
    assert [("ipv4" if k == "ipv4" else k) for k, _, _ in found] == [kind]


# -- the scan's shortcuts --------------------------------------------------------
# find_pii skips a kind when the text cannot hold it ("@", ":", a digit), the
# digit kinds and the IBAN are found by one regex that jumps to a digit, "+" or
# "(" and first rejects what is too short to be any of them, and an email is
# tried once per "@". Each shortcut that skipped too much would leave these in clear.

EXAMPLES = {
    "email": "jane.doe@example.com",
    "card": "4111 1111 1111 1111",
    "iban": "DE89 3704 0044 0532 0130 00",
    "ssn": "123-45-6789",
    "ipv4": "10.0.0.1",
    "ipv6": "2001:db8::8a2e:370:7334",
    "phone": "+44 20 7946 0958",
}


@pytest.mark.parametrize(
    "value",
    [*EXAMPLES.values(), "(415) 555-0100", "415-555-0100", "GB82WEST12345698765432"],
)
@pytest.mark.parametrize("template", ["{}", "{} tail", "head {}", "3 options at 10:30: {}, ok"])
def test_each_kind_alone_at_the_start_or_end_or_after_short_numbers(
    value: str, template: str
) -> None:
    text = template.format(value)
    start = text.index(value)
    assert [(s, e) for _, s, e in find_pii(text)] == [(start, start + len(value))]


@pytest.mark.parametrize("digit", list("0123456789"))
def test_text_whose_only_digit_is_any_one_digit_is_scanned(digit: str) -> None:
    # Whether the text holds a digit is ten C scans, one per digit.
    text = f"host {digit}.{digit}.{digit}.{digit} is up"
    assert PiiRedactor().redact(text) == "host [IP] is up"


@pytest.mark.parametrize(
    "text",
    [
        "3 options: 1. retry at 10:30, 2. wait 45 s, 3. give up after 2026-11-30",
        "version 1.2.3-rc4 (build 20261130) took 12.5 ms; 99% of 1,024 calls",
        "| id | qty | price |\n| 12 | 3 | 4.50 |\n| 345 | 67 | 89.00 |",
        "@dataclass\n@pytest.mark.anyio\ndef f(): return a@b, x @ y",
        "mail me at jane@localhost or @jane, not @@ or a@b.c1",
        "x = matrix @ weights  # shape (3, 4) @ (4, 5)",
    ],
)
def test_digits_and_at_signs_that_are_no_personal_data_are_left_alone(text: str) -> None:
    assert list(find_pii(text)) == []
    assert PiiRedactor().redact(text) == text


def test_an_email_after_many_at_signs_that_are_not_one_is_found() -> None:
    text = "@decorator\n" * 50 + "a@b c@d\n" * 50 + "contact: jane.doe@example.com."
    assert PiiRedactor().redact(text).endswith("contact: [EMAIL].")
    # and one whose local part follows other characters without a space
    assert PiiRedactor().redact("(jane@example.com),x@y") == "([EMAIL]),x@y"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # an emoji or an accent makes the text non-ASCII: the Unicode regexes run
        ("café ☕ jane@example.com 4111 1111 1111 1111", "café ☕ [EMAIL] [CARD]"),
        ("📞 +44 20 7946 0958, IP 10.0.0.1, é", "📞 [PHONE], IP [IP], é"),
        # a card number in Arabic-Indic digits is a card number
        ("رقم ٤١١١ ١١١١ ١١١١ ١١١١", "رقم [CARD]"),
    ],
)
def test_non_ascii_text(text: str, masked: str) -> None:
    assert PiiRedactor().redact(text) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # A local part with a letter outside ASCII was cut at it: the first name
        # before it went out as it was.
        ("write to renée.dupont@example.fr", "write to [EMAIL]"),
        ("müller@example.de, bitte", "[EMAIL], bitte"),
        # an internationalized domain (and top-level domain) was no address at all
        ("jürgen.schmidt@münchen.de", "[EMAIL]"),
        ("user@例子.广告 and ok", "[EMAIL] and ok"),
        ("пример@почта.рф", "[EMAIL]"),
        # what was found stays found, and what was not stays not
        ("café jane@example.com", "café [EMAIL]"),
        ("é@b", "é@b"),
        ("x@sub_domain.example.com", "x@sub_domain.example.com"),
        ("ü a@b.c1 ü", "ü a@b.c1 ü"),
    ],
)
def test_an_address_with_letters_of_any_script_is_masked_whole(text: str, masked: str) -> None:
    assert PiiRedactor().redact(text) == masked


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("DE89 3704 0044 0532 0130 00", ["iban"]),
        ("xDE89 3704 0044 0532 0130 00", []),  # no word boundary before the IBAN
        ("IBAN:DE89370400440532013000;", ["iban"]),
        # an IBAN's check digits after a card's run, and a phone number in an IBAN's place
        ("4111 1111 1111 1111 DE89 3704 0044 0532 0130 00", ["card", "iban"]),
        ("DE00 3704 0044 0532 0130 00 (415) 555-0100", ["phone"]),
    ],
)
def test_ibans_found_from_their_check_digits(text: str, found: list[str]) -> None:
    assert [kind for kind, _, _ in find_pii(text)] == found


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # a card as the very last characters, and as the whole text
        ("pay with 4111 1111 1111 1111", "pay with [CARD]"),
        ("4111111111111111", "[CARD]"),
        # matches right next to each other, of one kind and of two
        ("jane@example.com,4111111111111111", "[EMAIL],[CARD]"),
        ("10.0.0.1 10.0.0.2", "[IP] [IP]"),
        ("(415) 555-0100/123-45-6789", "[PHONE]/[SSN]"),
        # Unicode digits: an Arabic-Indic card, an IBAN with one in its number
        ("٤١١١١١١١١١١١١١١١", "[CARD]"),
        ("x DE٨٩ 3704 0044 0532 0130 00", "x [IBAN]"),
    ],
)
def test_edges_of_the_checks_and_the_merge(text: str, masked: str) -> None:
    assert PiiRedactor().redact(text) == masked


@given(st.text(st.sampled_from(list("0123456789٣ ")), min_size=13, max_size=30))
def test_ascii_and_unicode_luhn_agree(digits: str) -> None:
    # The checksum of ASCII digits is summed over bytes; any other digit goes the long way.
    digits = digits.replace(" ", "")
    assume(digits)
    assert luhn_ok(digits) == _textbook_luhn(digits)


def test_iban_check_takes_any_case_and_rejects_what_is_no_iban() -> None:
    assert iban_ok("gb82west12345698765432")
    assert not iban_ok("GB82WEST1234569876543_")
    assert not iban_ok("GB82WEST123456987654é2")
    assert not iban_ok("GB82 WEST")


def _textbook_luhn(digits: str) -> bool:
    values = [int(c) for c in reversed(digits)]
    return (
        sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(values)) % 10
        == 0
    )


@given(
    st.lists(
        st.text("0123456789", min_size=1, max_size=5) | st.just("٤١"), min_size=1, max_size=30
    ),
    st.lists(st.sampled_from([" ", "-"]), min_size=29, max_size=29),
)
def test_the_card_in_a_digit_run_is_its_longest_then_leftmost_luhn_run(
    groups: list[str], seps: list[str]
) -> None:
    # Sub-runs of a card candidate are checked with prefix sums, not one by one.
    text = groups[0] + "".join(sep + g for sep, g in zip(seps, groups[1:], strict=False))
    starts = [0] + [i + 1 for i, c in enumerate(text) if c in " -"]
    ends = [i for i, c in enumerate(text) if c in " -"] + [len(text)]
    valid = [
        (s, e)
        for s in starts
        for e in ends
        if e > s
        and 13 <= len(digits := text[s:e].replace(" ", "").replace("-", "")) <= 19
        and _textbook_luhn(digits)
    ]
    expected = min(valid, key=lambda r: (r[0] - r[1], r[0])) if valid else None
    assert _checksummed_run("card", text, 0, len(text)) == expected


# Sizes at which a scan that backtracks or rescans quadratically takes many
# seconds (main at e2920e1 took ~2 s for a tenth of the email case), and a
# linear one milliseconds. Only the outputs are asserted.
ADVERSARIAL = [
    "a" * 20_000 + "@" + "b" * 20_000,  # a local part and a domain without a dot
    "aé" * 100_000 + "@x",  # a local part of two scripts, walked back once
    "é" * 20_000 + "@" + "ü" * 20_000,
    "x@" * 20_000,
    "1 " * 20_000,  # every digit a possible card start, every run 61 digits long
    "1234 " * 8_000,
    "1-" * 20_000,
    "12:" * 10_000,
    "1.1." * 10_000,
    "+1 " * 10_000,
    "(123) " * 5_000,
    "DE12 " * 8_000,
    # many card candidates that fail Luhn, and the one SSN far after them
    "order 12345678901234 " * 2_000 + "ssn 123-45-6789",
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=lambda t: repr(t[:8]))
def test_adversarial_input_is_scanned_in_linear_time(text: str) -> None:
    expected = text.replace("123-45-6789", "[SSN]")
    assert PiiRedactor().redact(text) == expected


# -- redaction properties ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # Hypothesis found these. A card (or IBAN) candidate is a whole digit run;
        # what the number leaves of it was scanned again alone and for every kind
        # but the number's, so a second number in the run, or anything that began
        # in the run and went on past it, stayed in clear.
        (" 4000000000000002 42 4000000000000002 ", " [CARD] [CARD] "),
        ("4111 1111 1111 1111 4000 0000 0000 0002", "[CARD] [CARD]"),
        (
            f"{with_iban_check('NO', '86011117947')} {with_iban_check('NL', '28657070499952')}",
            "[IBAN] [IBAN]",
        ),
        (
            f"{with_iban_check('DE', '549817410409016123')} {with_iban_check('NO', '33396217232')}",
            "[IBAN] [IBAN]",
        ),
        (" 4000000000000002 42 0.0.0.0 ", " [CARD] [IP] "),
        # no card in the run at all: an SSN in it, an IPv6 address from its end on
        (" 001-01-0001 42 10::10 ", " [SSN] 42 [IP] "),
    ],
)
def test_what_a_number_leaves_of_its_digit_run_is_scanned_again(text: str, masked: str) -> None:
    assert PiiRedactor().redact(text) == masked


@given(texts_with_pii())
def test_no_generated_pii_survives_and_masking_is_idempotent(case: tuple[str, list[str]]) -> None:
    text, values = case
    redactor = PiiRedactor()
    out = redactor.redact(text)
    for value in values:
        assert value not in out
    assert redactor.redact(out) == out


REVERSIBLE = ReversiblePiiRedactor()


@given(texts_with_pii())
def test_placeholders_restore_exactly_and_redaction_is_idempotent(
    case: tuple[str, list[str]],
) -> None:
    text, values = case
    out = REVERSIBLE.redact(text)
    for value in values:
        assert value not in out
    assert REVERSIBLE.redact(out) == out
    assert REVERSIBLE.restore(out) == text


@given(st.text(max_size=60))
def test_restore_of_redact_is_identity_on_any_text(text: str) -> None:
    assume("<" not in text)  # text that already holds our own placeholders is not user text
    assert REVERSIBLE.restore(REVERSIBLE.redact(text)) == text


@given(texts_with_pii(), st.lists(st.integers(0, 200), max_size=12))
def test_streamed_restore_matches_whole_restore_wherever_chunks_split(
    case: tuple[str, list[str]], cuts: list[int]
) -> None:
    text, _ = case
    redacted = REVERSIBLE.redact(text)
    points = sorted({c % (len(redacted) + 1) for c in cuts})
    chunks = [redacted[a:b] for a, b in zip([0, *points], [*points, len(redacted)], strict=True)]
    restorer = StreamRestorer(REVERSIBLE.restore, [REVERSIBLE.holdback])
    assert "".join(restorer.feed(c) for c in chunks) + restorer.flush() == text


def test_same_value_same_placeholder_different_process_key() -> None:
    a, b = ReversiblePiiRedactor(key=b"k" * 32), ReversiblePiiRedactor(key=b"j" * 32)
    assert a.redact("x@example.com") == a.redact("x@example.com") != b.redact("x@example.com")


@pytest.mark.parametrize("key", [b"k" * 32, b"", b"x" * 64, bytes(range(100))])
def test_a_placeholder_is_the_hmac_sha256_of_its_label_and_value(key: bytes) -> None:
    # The redactor keeps the key's HMAC states and copies them per value
    # (re-keying costs as much as the hash); the placeholders stay what they were.
    redactor = ReversiblePiiRedactor(key=key)
    for label, value in [("EMAIL", "x@example.com"), ("CARD", CARD), ("IP", "10.0.0.1")]:
        digest = hmac.new(key, f"{label}\0{value}".encode(), hashlib.sha256).digest()
        letters = "".join(chr(97 + b % 26) for b in digest[:8])
        assert redactor.redact(f"({value})") == f"(<{label}_{letters}>)"


# -- through the client ------------------------------------------------------------


class ListStorage:
    def __init__(self) -> None:
        self.records: list[CallRecord] = []

    async def write_batch(self, records: Sequence[CallRecord]) -> None:
        self.records.extend(records)

    async def query_logs(self, *, limit: int = 50) -> list[CallRecord]:
        return self.records

    async def aclose(self) -> None:
        pass

    @hookimpl
    def relaykit_storage(self, name: str, config: Config) -> Any:
        return self


EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"


def config(outbound: bool) -> dict[str, Any]:
    return {
        "storage": {"backend": "list"},
        "redactors": {"pii": {"enabled": True, "outbound": outbound}},
    }


@pytest.mark.anyio
async def test_stored_records_are_masked_but_the_prompt_is_sent_as_is() -> None:
    fake, storage = FakePlugin(), ListStorage()
    async with relaykit.Client(config(False), plugins=[fake, storage]) as client:
        r = await client.chat("fake/m", f"mail {EMAIL} card {CARD}")
    assert fake.calls[0].messages[0].text == f"mail {EMAIL} card {CARD}"
    assert r.text == f"echo: mail {EMAIL} card {CARD}"
    (record,) = storage.records
    assert record.messages[0].text == "mail [EMAIL] card [CARD]"
    assert EMAIL not in json.dumps(relaykit.converter.unstructure(record))


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
async def test_stored_tools_schemas_extra_metadata_and_reasoning_are_masked(stream: bool) -> None:
    fake, storage = FakePlugin(), ListStorage()
    fake.script.push(Reply(text="ok", reasoning=f"The user is {EMAIL}."))
    tool = {"name": "pay", "description": f"Pay with {CARD}", "parameters": {}}
    schema = {"type": "object", "description": f"reply to {EMAIL}"}
    params: dict[str, Any] = {
        "tools": [tool],
        "response_format": {"type": "json_schema", "schema": schema},
        "extra": {"user": EMAIL},
        "metadata": {"user_id": EMAIL},
    }
    async with relaykit.Client(config(False), plugins=[fake, storage]) as client:
        if stream:
            async with client.stream("fake/m", "hi", **params) as s:
                async for _ in s:
                    pass
        else:
            await client.chat("fake/m", "hi", **params)
    assert fake.calls[0].tools[0].description == f"Pay with {CARD}"  # sent as given
    (record,) = storage.records
    assert record.params["tools"][0]["description"] == "Pay with [CARD]"
    assert record.params["response_format"]["schema"]["description"] == "reply to [EMAIL]"
    assert record.params["extra"] == {"user": "[EMAIL]"}
    assert record.params["metadata"] == {"user_id": "[EMAIL]"}
    assert record.reasoning == "The user is [EMAIL]."
    stored = json.dumps(relaykit.converter.unstructure(record))
    assert EMAIL not in stored
    assert CARD not in stored


@pytest.mark.anyio
async def test_outbound_placeholders_are_restored_in_the_answer_and_tool_calls() -> None:
    fake, storage = FakePlugin(), ListStorage()
    async with relaykit.Client(config(True), plugins=[fake, storage]) as client:
        r = await client.chat("fake/m", f"mail {EMAIL}")
        sent = fake.calls[0].messages[0].text
        assert EMAIL not in sent
        assert sent.startswith("mail <EMAIL_")
        assert r.text == f"echo: mail {EMAIL}"
        placeholder = sent.removeprefix("mail ")
        fake.script.push(Reply(tool_calls=(("send", {"to": placeholder, "cc": [placeholder]}),)))
        r = await client.chat("fake/m", f"write to {EMAIL}")
        assert r.tool_calls[0].arguments == {"to": EMAIL, "cc": [EMAIL]}
    assert all(
        EMAIL not in json.dumps(relaykit.converter.unstructure(rec)) for rec in storage.records
    )


@pytest.mark.anyio
@pytest.mark.parametrize("chunk", [1, 3, 8])
async def test_outbound_placeholders_are_restored_in_streams_split_across_chunks(
    chunk: int,
) -> None:
    class ChunkedReply(Reply):
        def chunks(self, size: int = 8) -> list[str]:
            return super().chunks(chunk)

    fake, storage = FakePlugin(), ListStorage()
    async with relaykit.Client(config(True), plugins=[fake, storage]) as client:
        async with client.stream("fake/m", f"hi {EMAIL} <3") as s:
            placeholder = fake.calls[0].messages[0].text.split()[1]
            fake.script.push(ChunkedReply(text=f"to {placeholder} and {placeholder} <"))
        async with client.stream("fake/m", f"hi {EMAIL} <3") as s:
            texts = [e.text async for e in s if isinstance(e, relaykit.TextDelta)]
    assert "".join(texts) == f"to {EMAIL} and {EMAIL} <"
    assert s.response.text == f"to {EMAIL} and {EMAIL} <"
    assert EMAIL not in json.dumps([relaykit.converter.unstructure(r) for r in storage.records])


SYSTEM = (
    "You are the support assistant of a shop. Escalate to support@shop.example or"
    f" call +44 20 7946 0958; never repeat a card such as {CARD} back. api_key=abcdefgh12345678"
)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("outbound", "memo_mb", "redacted"),
    [(False, 8, 1), (True, 8, 0), (False, 0, 4)],
    ids=["mask", "outbound", "mask-memo-off"],
)
async def test_a_system_prompt_on_every_turn_is_stored_redacted_every_time(
    outbound: bool, memo_mb: float, redacted: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # From the first turn on the client's chain remembers what the secret and
    # PII redactors made of the system prompt (unless [redaction] memo_mb = 0);
    # every record is the same as the first.
    seen: list[str] = []
    redact = PiiRedactor.redact

    def counting(self: PiiRedactor, text: str) -> str:
        seen.append(text)
        return redact(self, text)

    monkeypatch.setattr(PiiRedactor, "redact", counting)
    fake, storage = FakePlugin(), ListStorage()
    conf = {**config(outbound), "redaction": {"memo_mb": memo_mb}}
    async with relaykit.Client(conf, plugins=[fake, storage]) as client:
        for i in range(4):
            turn = [relaykit.Message.system(SYSTEM), relaykit.Message.user(f"turn {i} {EMAIL}")]
            await client.chat("fake/m", turn)
    # masking: the first turn; nothing remembered: every turn; reversible: never
    # here (each call's session puts the placeholders in the prompt, and the
    # records are made of that prompt)
    # (stored, it comes to the PII redactor with its key masked: the built-in
    # secret redactor runs first)
    masked = SYSTEM.replace("abcdefgh12345678", "[REDACTED]")
    assert seen.count(SYSTEM) + seen.count(masked) == redacted
    stored = [r.messages[0].text for r in storage.records]
    assert len(stored) == 4
    assert len(set(stored)) == 1
    assert "abcdefgh12345678" not in stored[0]
    assert CARD not in stored[0]
    assert "support@shop.example" not in stored[0]
    assert all(EMAIL not in r.messages[1].text for r in storage.records)


@pytest.mark.anyio
async def test_a_client_with_other_kinds_does_not_reuse_another_clients_results() -> None:
    results = []
    for kinds in (["email"], ["card"]):
        storage = ListStorage()
        conf = {
            "storage": {"backend": "list"},
            "redactors": {"pii": {"enabled": True, "kinds": kinds}},
        }
        async with relaykit.Client(conf, plugins=[FakePlugin(), storage]) as client:
            for _ in range(3):
                await client.chat(
                    "fake/m", [relaykit.Message.system(SYSTEM), relaykit.Message.user("hi")]
                )
        results.append({r.messages[0].text for r in storage.records})
    (emails_masked,), (cards_masked,) = results
    assert "[EMAIL]" in emails_masked and CARD in emails_masked
    assert "[CARD]" in cards_masked and "support@shop.example" in cards_masked


def test_the_masking_redactor_is_pure_and_the_reversible_one_is_not() -> None:
    from relaykit.redaction import RedactionChain

    text = SYSTEM * 2
    reversible = ReversiblePiiRedactor()
    chain = RedactionChain([reversible])
    for _ in range(3):
        assert EMAIL not in chain.text(f"{text} {EMAIL}")
    assert chain.memo_size().entries == 0  # it runs on every text, to keep what restore needs
    placeholder = chain.text(f"{text} {EMAIL}").split()[-1]
    assert reversible.restore(placeholder) == EMAIL
    masking = RedactionChain([PiiRedactor()])
    for _ in range(3):
        masking.text(text)
    assert masking.memo_size().entries == 1


def test_config_is_validated() -> None:
    with pytest.raises(relaykit.ConfigError, match="did you mean 'outbound'"):
        relaykit.Client(
            {
                "storage": {"backend": "none"},
                "redactors": {"pii": {"enabled": True, "outbond": True}},
            }
        )
    with pytest.raises(relaykit.ConfigError, match="unknown kind 'passport'"):
        relaykit.Client(
            {
                "storage": {"backend": "none"},
                "redactors": {"pii": {"enabled": True, "kinds": ["passport"]}},
            }
        )


def test_ipv6_helper_agrees_with_ipaddress() -> None:
    assert next(find_pii(f"host {ipaddress.IPv6Address('2001:db8::8a2e:370:7334')}"))[0] == "ipv6"


def test_char_classes_of_ascii_text_and_none_for_other_text() -> None:
    # The scan's literal searches in ASCII text rely on these three classes.
    text = "Tel +44 (20) 7946-0958. DE89 ok " * 20
    assert char_classes(text) == b"Axx000000000000000000000AA000xx0" * 20
    assert char_classes(text[: CLASSES_FROM - 1]) is None  # short: the regexes alone
    assert char_classes("café 4111" * 100) is None


def test_a_subclass_is_pure_only_if_it_says_so() -> None:
    # A subclass may keep state (count what it masked, say): its results are not
    # reused unless it declares pure itself.
    class Counting(PiiRedactor):
        def __init__(self) -> None:
            super().__init__()
            self.masked = 0

        def _replace(self, text: str, label: str, kind: str) -> str:
            self.masked += 1
            return super()._replace(text, label, kind)

    class Declared(PiiRedactor):
        pure = True

    assert (PiiRedactor.pure, Counting.pure, Declared.pure) == (True, False, True)
    from relaykit.redaction import RedactionChain

    counting = Counting()
    chain = RedactionChain([counting])
    chain.text(f"{SYSTEM} {EMAIL}")
    once = counting.masked
    for _ in range(2):
        chain.text(f"{SYSTEM} {EMAIL}")
    assert once > 0 and counting.masked == 3 * once  # it saw the text every time
    assert chain.memo_size().entries == 0


OTHER_EMAIL = "john.roe@example.org"


async def _ask(client: relaykit.Client, prompt: str, stream: bool) -> ChatResponse:
    """One cached call, as a chat or a stream (whose events must carry the text too)."""
    if not stream:
        return await client.chat("fake/m", prompt, temperature=0)
    async with client.stream("fake/m", prompt, temperature=0) as s:
        texts = [e.text async for e in s if isinstance(e, TextDelta)]
    assert s.response is not None
    assert "".join(texts) == s.response.text  # what the caller read is what it got
    return s.response


def _at_rest(directory: Path) -> bytes:
    """Every byte of every file under ``directory`` (the database, its WAL)."""
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
async def test_the_cache_keeps_placeholders_at_rest_and_a_hit_restores_the_callers_own(
    stream: bool, tmp_path: Path
) -> None:
    # Stored records carry placeholders; the cache must too: it keeps the answer
    # as the provider wrote it, keyed by the prompt as the provider saw it, and a
    # hit is restored with the values of the call it answers.
    settings = {
        "storage": {"backend": "sqlite", "path": str(tmp_path / "shared.db")},
        "redactors": {"pii": {"enabled": True, "outbound": True}},
        "cache": {"enabled": True, "max_entries": 1},
    }
    fake = FakePlugin()
    async with relaykit.Client(settings, plugins=[fake]) as client:
        first = await _ask(client, f"mail {EMAIL}", stream)
        again = await _ask(client, f"mail {EMAIL}", stream)
        other = await _ask(client, f"mail {OTHER_EMAIL}", stream)
        other_again = await _ask(client, f"mail {OTHER_EMAIL}", stream)
        # from the store: the in-memory LRU in front of it holds OTHER_EMAIL's alone
        stored = await _ask(client, f"mail {EMAIL}", stream)
    hits = [r.cache_hit for r in (first, again, other, other_again, stored)]
    assert hits == [False, True, False, True, True]
    assert len(fake.calls) == 2
    assert {first.text, again.text, stored.text} == {f"echo: mail {EMAIL}"}
    assert {other.text, other_again.text} == {f"echo: mail {OTHER_EMAIL}"}
    assert EMAIL not in fake.calls[0].messages[0].text
    with sqlite3.connect(tmp_path / "shared.db") as db:
        cached = [row[0] for row in db.execute("SELECT response FROM response_cache")]
    assert len(cached) == 2 and all("echo: mail <EMAIL_" in c for c in cached)
    rest = _at_rest(tmp_path)
    assert EMAIL.encode() not in rest and OTHER_EMAIL.encode() not in rest


@pytest.mark.anyio
async def test_another_process_never_reads_personal_data_from_a_shared_cache(
    tmp_path: Path,
) -> None:
    # Each process keys its placeholders with a key of its own: a prompt with
    # personal data is its own entry there (the price of keeping none at rest);
    # one without is shared as before.
    settings = {
        "storage": {"backend": "sqlite", "path": str(tmp_path / "shared.db")},
        "redactors": {"pii": {"enabled": True, "outbound": True}},
        "cache": {"enabled": True},
    }
    answers = []
    for fake in (FakePlugin(), FakePlugin()):
        async with relaykit.Client(settings, plugins=[fake]) as client:
            answers.append(await client.chat("fake/m", f"mail {EMAIL}", temperature=0))
            answers.append(await client.chat("fake/m", "no data here", temperature=0))
    assert [a.cache_hit for a in answers] == [False, False, False, True]
    assert answers[2].text == f"echo: mail {EMAIL}"  # its own answer, restored
    assert answers[3].text == "echo: no data here"
    assert EMAIL.encode() not in _at_rest(tmp_path)
