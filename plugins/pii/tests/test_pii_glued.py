"""relaykit-pii: values glued to each other or to text without a space, and masks that
must not read as a label on the next redaction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaykit.outbound_redaction import StreamRestorer
from relaykit_pii import PiiRedactor, ReversiblePiiRedactor, detectors
from relaykit_pii.detectors import luhn_ok


def _card(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_ok(body + d))


# One value of each kind, in the layouts glued text holds them in; what matters
# here is what stands right before and after them, not their own variety.
VALUES = st.sampled_from(
    [
        "ana@example.com",
        "j.doe+tag@mail.example.co.uk",
        "4111111111111111",
        "4111 1111 1111 1111",
        _card("51051051051051"),
        "DE89370400440532013000",
        "DE89-3704-0044-0532-0130-00",
        "de89 3704 0044 0532 0130 00",
        "GB82WEST12345698765432",
        "078-05-1120",
        "10.0.0.1",
        "192.168.1.254",
        "2001:db8::8a2e:370:7334",
        "fe80::1:2:3:4",
        "+44 20 7946 0958",
        "+1 415 555 0100",
        "(415) 555-0100",
        "415-555-0100",
        "020 7946 0958",
        "01 23 45 67 89",
        "nl91abna0417164300",
        "mt84-malt-0110-0001-2345-mtlc-ast0-01s",
        "0044 20 7946 0958",
        "+1 415 555 2671 ext. 42",
        "415-555-0100x42",
        "ana@[192.168.1.1]",
        "ana@[IPv6:2001:db8::1]",
    ]
)
GLUE = st.sampled_from(["", "", ".", ",", "-", "/", ":", "+", "x", "é", "は", "_"])


@given(st.lists(st.tuples(GLUE, VALUES), min_size=2, max_size=8), GLUE)
def test_glued_values_are_masked_idempotently(pieces: list[tuple[str, str]], tail: str) -> None:
    # Masking the first of two glued values put "]" or ">" before the second,
    # where a digit or a letter had stood: the second redaction found it, the
    # first had not ("+44 20 7946 0958" after an email, "1.2.3.4." before a card).
    text = "".join(glue + value for glue, value in pieces) + tail
    masked = PiiRedactor().redact(text)
    assert PiiRedactor().redact(masked) == masked
    session = ReversiblePiiRedactor().session()  # (its own placeholders are lookalikes to it)
    assert session.restore(session.redact(text)) == text
    redactor = ReversiblePiiRedactor()
    sent = redactor.redact(text)
    assert redactor.redact(sent) == sent
    assert redactor.restore(sent) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # each found the second time only, after the first was masked
        ("ana@example.com+44 20 7946 0958", "[EMAIL][PHONE]"),
        ("1.2.3.4.4111111111111111", "[IP].[CARD]"),
        ("+44 10 6422 3141+44 10 6422 3141", "[PHONE][PHONE]"),
        ("x169.254.234.153ES04-I0LQ-TZUN-W34I-NZIW-34Z2", "x[IP][IBAN]"),
        # an invisible character is read through: the card ran on from the IBAN
        (" GB82WEST12345698765432\u200f4111 1111 1111 1111 ", " [IBAN]\u200f[CARD] "),
    ],
)
def test_a_value_glued_to_another_is_masked_the_first_time(text: str, masked: str) -> None:
    assert PiiRedactor().redact(text) == masked
    redactor = ReversiblePiiRedactor()
    sent = redactor.redact(text)
    assert redactor.restore(sent) == text


def test_the_ssn_mask_is_no_label_for_the_next_redaction() -> None:
    # "[SSN]" read as the label "SSN": a 9-digit order number within 40 characters
    # after a masked SSN was masked by the second redaction.
    text = "order 078-05-1120 ref 123456789"
    masked = PiiRedactor().redact(text)
    assert masked == "order [SSN] ref 123456789"
    assert PiiRedactor().redact(masked) == masked


@given(st.lists(st.tuples(GLUE, VALUES), min_size=2, max_size=3), st.data())
def test_glued_values_restore_in_a_stream_cut_anywhere(
    pieces: list[tuple[str, str]], data: st.DataObject
) -> None:
    text = "".join(glue + value for glue, value in pieces)
    session = ReversiblePiiRedactor().session()
    sent = session.redact(text)
    cuts = sorted(data.draw(st.sets(st.integers(0, len(sent)), max_size=6)))
    chunks = [sent[a:b] for a, b in zip([0, *cuts], [*cuts, len(sent)], strict=True)]
    restorer = StreamRestorer(session.restore, [session.holdback])
    assert "".join(restorer.feed(c) for c in chunks) + restorer.flush() == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("電話は+44 20 7946 0958です", "電話は[PHONE]です"),
        ("電話は(415) 555-0100です", "電話は[PHONE]です"),
        ("電話番号415-555-0100まで", "電話番号[PHONE]まで"),
        ("电话020 7946 0958。", "电话[PHONE]。"),
        ("전화+82 2 3456 7890입니다", "전화[PHONE]입니다"),
        ("カード4111 1111 1111 1111です", "カード[CARD]です"),
        ("口座DE89370400440532013000です", "口座[IBAN]です"),
        ("口座DE89 3704 0044 0532 0130 00です", "口座[IBAN]です"),
    ],
)
def test_a_number_glued_to_chinese_japanese_or_korean_text_is_masked(
    text: str, masked: str
) -> None:
    # Those scripts put no space between words, so a letter of theirs right
    # against a number is no part of it (\w took it for one: the number went out
    # in clear); a Latin letter still is ("x+44 ..." stays).
    assert PiiRedactor().redact(text) == masked
    redactor = ReversiblePiiRedactor()
    assert redactor.restore(redactor.redact(text)) == text


def test_a_number_glued_to_a_latin_word_is_still_no_phone_number() -> None:
    assert PiiRedactor().redact("x+44 20 7946 0958") == "x+44 20 7946 0958"
    assert PiiRedactor().redact("ab020 7946 0958") == "ab020 7946 0958"
    assert PiiRedactor().redact("xDE89370400440532013000") == "xDE89370400440532013000"


def _counting_scans(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    # How many characters the scans read, all told: an operation count, not a clock.
    seen = {"chars": 0, "scans": 0}
    scan_once = detectors._spans_once

    def counted(text: str, kinds: frozenset[str]) -> list[tuple[str, int, int]]:
        seen["chars"] += len(text)
        seen["scans"] += 1
        return scan_once(text, kinds)

    monkeypatch.setattr(detectors, "_spans_once", counted)
    return seen


@pytest.mark.parametrize(
    ("value", "mask"),
    [
        ("+44 10 6422 3141", "[PHONE]"),
        ("+33 1 23 45 67 89", "[PHONE]"),
        ("+49 30 12345678", "[PHONE]"),
        ("+44 20 7946 0958 ana@example.com", "[PHONE] [EMAIL]"),
    ],
)
@pytest.mark.parametrize("count", [6, 7, 50, 2_000])
def test_a_chain_of_glued_values_of_any_length_is_masked_whole_in_linear_work(
    value: str, mask: str, count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each value is found only once the one before it is masked: whole-text
    # rescans (GLUED_ROUNDS of them) left a chain's values past the fifth in
    # clear, and a rescan per value would be quadratic. Around each value found,
    # a window of the masked copy is scanned: the characters read grow with the
    # chain's length, by a bounded amount per value.
    seen = _counting_scans(monkeypatch)
    text = value * count
    masked = PiiRedactor().redact(text)
    assert masked == mask * count
    assert seen["chars"] <= len(text) + count * 4 * (detectors.GLUED_WINDOW + len(value))
    assert PiiRedactor().redact(masked) == masked
    session = ReversiblePiiRedactor().session()
    assert session.restore(session.redact(text)) == text


def test_a_long_text_without_personal_data_is_scanned_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = _counting_scans(monkeypatch)
    text = "order 42 shipped at 10:30, v1.2.3 costs 9.99 (see #12) - thanks! " * 2_000
    assert PiiRedactor().redact(text) == text
    assert seen == {"chars": len(text), "scans": 1}
    # and with values spaced apart: found in one scan too, no window rescans
    seen.update(chars=0, scans=0)
    text = "mail ana@example.com or call +44 20 7946 0958 today. " * 2_000
    assert PiiRedactor().redact(text) == "mail [EMAIL] or call [PHONE] today. " * 2_000
    assert seen == {"chars": len(text), "scans": 1}
