"""relaykit-pii: every value of a text is masked, not only the first of its kind.

A detector that walks a digit run and returns after its first match left the
rest of the run in clear ("0044 20 7946 0958. 0033 1 23 45 67 89" sent the
French number out). These hold each shape when it repeats, when two kinds
share one run, at the text's very end, and with an extension glued on.
"""

from __future__ import annotations

import pytest

from relaykit_pii import PiiRedactor, ReversiblePiiRedactor


def _masked_stably(text: str, masked: str) -> None:
    assert PiiRedactor().redact(text) == masked
    redactor = ReversiblePiiRedactor()
    sent = redactor.redact(text)
    assert redactor.redact(sent) == sent
    assert redactor.restore(sent) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # two (or three) numbers dialled with "00" in one run of digits and separators
        ("0044 20 7946 0958. 0033 1 23 45 67 89", "[PHONE]. [PHONE]"),
        ("0044 20 7946 0958. 0033 1 23 45 67 89. 0044 20 7946 0958", "[PHONE]. [PHONE]. [PHONE]"),
        ("0044-20-7946-0958 - 0033-1-23-45-67-89", "[PHONE] - [PHONE]"),
        ("é 0044 20 7946 0958. 0033 1 23 45 67 89 é", "é [PHONE]. [PHONE] é"),
        ("0044 20 7946 0958.(0033 1 23 45 67 89)", "[PHONE].([PHONE])"),
    ],
)
def test_every_number_dialled_with_00_in_one_run_is_masked(text: str, masked: str) -> None:
    _masked_stably(text, masked)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # as after a "+" ("+33 1 23 45 67 89x7"): the README's "x42" extension
        ("0033 1 23 45 67 89x7", "[PHONE]"),
        ("tel: 0044 20 7946 0958x42.", "tel: [PHONE]."),
        ("0044 20 7946 0958X42 or 0033 1 23 45 67 89x8", "[PHONE] or [PHONE]"),
        ("é 0033 1 23 45 67 89x7 é", "é [PHONE] é"),
        ("0044 20 7946 0958x7. 0033 1 23 45 67 89x8", "[PHONE]. [PHONE]"),
        # a letter that starts no extension still makes it a word, as after a "+"
        ("0044 20 7946 0958xy", None),
        ("0044 20 7946 0958x", None),
    ],
)
def test_a_number_dialled_with_00_keeps_its_glued_extension(text: str, masked: str | None) -> None:
    _masked_stably(text, text if masked is None else masked)


def test_the_00_form_ends_as_the_plus_form_does() -> None:
    # With an extension after it, "00" and "+" for the same number mask alike. (A word
    # glued on differs: the "+" form gives up its last group, the "00" form, which
    # may have no group of digits right after it, the number.)
    for tail in ("x7", "X12", " x42", " ext. 12", "#3", ", extension 4", "", "."):
        plus = PiiRedactor().redact(f"+33 1 23 45 67 89{tail}")
        dialled = PiiRedactor().redact(f"0033 1 23 45 67 89{tail}")
        assert dialled == plus, tail


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("4111 1111 1111 1111 5555 5555 5555 4444", "[CARD] [CARD]"),
        ("DE89 3704 0044 0532 0130 00 GB82 WEST 1234 5698 7654 32", "[IBAN] [IBAN]"),
        ("de89 3704 0044 0532 0130 00 de89 3704 0044 0532 0130 00", "[IBAN] [IBAN]"),
        ("nl91abna0417164300 nl91abna0417164300", "[IBAN] [IBAN]"),
        ("nl91abna0417164300-nl91abna0417164300", "[IBAN]-[IBAN]"),
        ("a@b.co,c@d.co", "[EMAIL],[EMAIL]"),
        ("10.0.0.1,10.0.0.2", "[IP],[IP]"),
        ("2001:db8::1 2001:db8::2", "[IP] [IP]"),
        ("+44 20 7946 0958/+33 1 23 45 67 89", "[PHONE]/[PHONE]"),
        ("(415) 555-0100 (415) 555-0101", "[PHONE] [PHONE]"),
        ("0044 20 7946 0958;0033 1 23 45 67 89", "[PHONE];[PHONE]"),
        # at the very end of the text
        ("end 0044 20 7946 0958", "end [PHONE]"),
        ("end nl91abna0417164300", "end [IBAN]"),
        ("end 0033 1 23 45 67 89 x4", "end [PHONE]"),
    ],
)
def test_repeated_values_are_each_masked(text: str, masked: str) -> None:
    _masked_stably(text, masked)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # no-break and narrow no-break spaces, a non-breaking hyphen between the
        # groups, as they are read in a number after a "+" ("+44\u00a020 ...")
        ("0044\u00a020\u00a07946\u00a00958", "[PHONE]"),
        ("tel 0033\u202f1\u202f23\u202f45\u202f67\u202f89 é", "tel [PHONE] é"),
        ("0044\u201120\u20117946\u20110958x7", "[PHONE]"),
        (
            "0044\u00a020\u00a07946\u00a00958. 0033\u00a01\u00a023\u00a045\u00a067\u00a089",
            "[PHONE]. [PHONE]",
        ),
        ("nl91\u00a0abna\u00a00417\u00a01643\u00a000 é", "[IBAN] é"),
        ("+44\u00a020\u00a07946\u00a00958\u00a0ext.\u00a042", "[PHONE]"),
    ],
)
def test_numbers_in_runs_with_unicode_spaces_are_masked(text: str, masked: str) -> None:
    _masked_stably(text, masked)
