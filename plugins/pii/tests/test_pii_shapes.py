"""relaykit-pii: the shapes added after the first detectors (lower-case and dashed IBANs,
labelled SSNs without dashes, national phone numbers), and what must stay unmasked."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaykit.outbound_redaction import StreamRestorer
from relaykit_pii import PiiRedactor, ReversiblePiiRedactor, find_pii
from relaykit_pii.detectors import IBAN_LENGTHS, _checksummed_run, iban_ok

ROOT = Path(__file__).resolve().parents[3]


def _iban(country: str, bban: str) -> str:
    n = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    return f"{country}{98 - n % 97:02d}{bban}"


def _grouped(iban: str, sep: str = " ") -> str:
    return sep.join(iban[i : i + 4] for i in range(0, len(iban), 4))


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("iban de89 3704 0044 0532 0130 00 thanks", "iban [IBAN] thanks"),
        ("iban: de89370400440532013000.", "iban: [IBAN]."),
        ("pay DE89-3704-0044-0532-0130-00 now", "pay [IBAN] now"),
        ("pay de89-3704-0044-0532-0130-00 now", "pay [IBAN] now"),
        ("to fr14 2004 1010 0505 0001 3m02 606, ok", "to [IBAN], ok"),
        ("to Fr14 2004 1010 0505 0001 3M02 606 and 42", "to [IBAN] and 42"),
        # the same in text that is not ASCII (the other scan)
        ("é de89 3704 0044 0532 0130 00 é", "é [IBAN] é"),
        ("é DE89-3704-0044-0532-0130-00 é", "é [IBAN] é"),
    ],
)
def test_lower_case_and_dashed_ibans_are_masked(text: str, masked: str) -> None:
    assert PiiRedactor().redact(text) == masked


# IBANs with letters in the BBAN (a bank code, Italy's CIN, letters at the end)
LETTERED_IBANS = [
    "GB82WEST12345698765432",
    "IE29AIBK93115212345678",
    "BG80BNBG96611020345678",
    "RO49AAAA1B31007593840000",
    "IT60X0542811101000000123456",
    "QA58DOHB00001234567890ABCDEFG",
    "LV80BANK0000435195001",
    "GI75NWBK000000007099453",
]


def _layouts(iban: str) -> list[str]:
    return [
        _grouped(iban).lower(),
        iban.lower(),
        # (dashed, lower-case, with letters before the digits, is not found: no
        # card candidate starts right after a dash)
        _grouped(iban, "-").lower()[:9] + _grouped(iban, " ")[9:],  # gb82-west 1234 ...
        _grouped(iban).title(),  # Gb82 West 1234 ...
        iban[:2] + _grouped(iban)[2:].lower(),  # GB82 west 1234 ...
        iban[:4].lower() + iban[4:],  # gb82WEST1234...
    ]


@pytest.mark.parametrize("template", ["pay {} now", "{}", "é {}, é"])
@pytest.mark.parametrize(
    "iban", [layout for iban in LETTERED_IBANS for layout in _layouts(iban)], ids=str
)
def test_lower_and_mixed_case_ibans_with_letters_in_the_bban_are_masked(
    iban: str, template: str
) -> None:
    # Found in capitals only: gb82 west ... was a card candidate after a word, or
    # nothing, and the IBAN went out in clear (or but its letters, as a [CARD]).
    assert iban_ok(iban)
    text = template.format(iban)
    assert PiiRedactor().redact(text) == template.format("[IBAN]")
    session = ReversiblePiiRedactor().session()
    sent = session.redact(text)
    assert iban[-6:] not in sent and session.restore(sent) == text


@pytest.mark.parametrize(
    "text",
    [
        "gb83 west 1234 5698 7654 32",  # a check digit off
        "zz82 west 1234 5698 7654 32",  # no such country
        "gb82 wes 1234 5698 7654 32",  # a character short of Britain's 22
        "gb82 westt 1234 5698 7654 32",  # and one over
        "xgb82 west 1234 5698 7654 32",  # no country code: a word's end
        "it is 12 west of 1234 5698 7654 32",
    ],
)
def test_lettered_lookalikes_are_no_iban(text: str) -> None:
    assert "[IBAN]" not in PiiRedactor().redact(text)
    assert "[IBAN]" not in PiiRedactor().redact(text.upper())


def test_an_iban_must_have_its_countrys_length() -> None:
    assert iban_ok("DE89 3704 0044 0532 0130 00")
    assert iban_ok("de89-3704-0044-0532-0130-00")
    assert IBAN_LENGTHS["DE"] == 22 and IBAN_LENGTHS["FR"] == 27 and IBAN_LENGTHS["NO"] == 15
    # mod-97 passes, but Germany's IBANs have 22 characters, not 23 or 21
    too_long, too_short = _iban("DE", "3" * 19), _iban("DE", "3" * 17)
    assert not iban_ok(too_long) and not iban_ok(too_short)
    assert "[IBAN]" not in PiiRedactor(["iban"]).redact(f"x {too_long} y")
    assert not iban_ok(_iban("XX", "1" * 18))  # no such country


def _lower_iban_with_a_card_inside() -> str:
    # A German IBAN in groups, lower-case, whose digits hold a run that passes Luhn:
    # the scan takes its digits for a card candidate first.
    for n in range(10**6):
        iban = _grouped(_iban("DE", f"{n:018d}")).lower()
        run = iban[2:]
        if _checksummed_run("card", run, 0, len(run)) is not None:
            return iban
    raise AssertionError


def test_a_lower_case_iban_whose_digits_hold_a_card_is_masked_whole() -> None:
    iban = _lower_iban_with_a_card_inside()
    text = f"send to {iban} today"
    assert PiiRedactor().redact(text) == "send to [IBAN] today"
    reversible = ReversiblePiiRedactor()
    sent = reversible.redact(text)
    assert iban[:2] not in sent.split() and iban[-2:] not in sent.split()
    assert reversible.restore(sent) == text


@pytest.mark.parametrize("prefix", ["x", "é"])
def test_finds_that_overlap_are_masked_as_their_union(prefix: str) -> None:
    # the email's domain ends where a lower-case IBAN's country code starts
    iban = "de89 3704 0044 0532 0130 00"
    text = f"{prefix} ana@example.{iban} y"
    out = PiiRedactor().redact(text)
    assert out == f"{prefix} [EMAIL] y"
    reversible = ReversiblePiiRedactor()
    assert reversible.restore(reversible.redact(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "SSN: 123456789",
        "ssn 123456789.",
        "my SSN is 123456789",
        "Social Security Number: 123456789",
        "social security no. 123456789, thanks",
        "é SSN: 123456789 é",  # the scan of text that is not ASCII
    ],
)
def test_a_labelled_ssn_without_dashes_is_masked(text: str) -> None:
    out = PiiRedactor().redact(text)
    assert "123456789" not in out and "[SSN]" in out


@pytest.mark.parametrize("tail", ["", " é"])  # the ASCII scan and the other
@pytest.mark.parametrize(
    "text",
    [
        # The SSN and the card make one digit run; the card is found inside it
        # and what comes before the card was scanned as a text of its own,
        # without the label before the run: the SSN went out in clear.
        "SSN: 123456789 4111 1111 1111 1111",
        "my social security number is 123456789 4111-1111-1111-1111",
    ],
)
def test_a_labelled_ssn_in_one_digit_run_with_a_card_keeps_its_label(text: str, tail: str) -> None:
    out = PiiRedactor().redact(text + tail)
    assert "123456789" not in out and out.endswith(f"[SSN] [CARD]{tail}"), out
    reversible = ReversiblePiiRedactor().session()
    sent = reversible.redact(text + tail)
    assert "123456789" not in sent and reversible.restore(sent) == text + tail


@pytest.mark.parametrize(
    "text",
    [
        "order 123456789 shipped",
        "SSN: 000123456",
        "SSN: 666123456",
        "SSN: 912345678",
        "SSN: 123004567",
        "SSN: 123450000",
        "SSN: 1234567890",  # ten digits: no SSN
        "é order 123456789 é",
        "the ssn field, then a long paragraph that goes on and on, order 123456789",
    ],
)
def test_nine_digits_without_a_label_or_valid_groups_stay(text: str) -> None:
    assert PiiRedactor().redact(text) == text


@pytest.mark.parametrize(
    "phone",
    [
        "020 7946 0958",
        "07700 900123",
        "030 12345678",
        "0151 23456789",
        "0151-23456789",
        "01 23 45 67 89",
        "06 12 34 56 78",
    ],
)
@pytest.mark.parametrize("template", ["call {} today", "{}", "(tel. {})", "é {} é"])
def test_national_phone_numbers_are_masked(phone: str, template: str) -> None:
    assert PiiRedactor().redact(template.format(phone)) == template.format("[PHONE]")


@pytest.mark.parametrize(
    "text",
    [
        "at 10:30 on 2026-01-05, v0.12.3",
        "costs 0.99, or 01.50 a month",
        "steps 01 02 03 then 04",
        "0 1 2 3 4 5 6 7 8 9",
        "the 01 23 45 67 series",  # four pairs: no French number
        "2026-05-12 06:12:34.5678",
        "id 0123 4567",
        "build 0.1.2 0 123456",
        "table 0 12345 67890 11111",
    ],
)
def test_times_versions_prices_and_lists_stay(text: str) -> None:
    assert PiiRedactor().redact(text) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("version 1.2.3.4 is out", "version 1.2.3.4 is out"),
        ("Version 10.0.0.1", "Version 10.0.0.1"),
        ("upgrade to v10.0.0.1 now", "upgrade to v10.0.0.1 now"),
        ("(V1.2.3.4)", "(V1.2.3.4)"),
        ("host 10.0.0.1", "host [IP]"),
        ("dev10.0.0.1", "dev[IP]"),  # a word ending in v is no version marker
        ("conversion 10.0.0.1", "conversion [IP]"),
        ("é v10.0.0.1 é 10.0.0.1", "é v10.0.0.1 é [IP]"),
    ],
)
def test_a_version_marker_right_before_keeps_four_numbers(text: str, masked: str) -> None:
    assert PiiRedactor().redact(text) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # An address at a sentence's end was left in clear: the pattern took no
        # "." after the last octet (meant: no ".5" of a fifth number).
        ("the host is 10.0.0.1.", "the host is [IP]."),
        ("é 192.168.1.254. Then", "é [IP]. Then"),
        ("ping 10.0.0.1...", "ping [IP]..."),
        ("1.2.3.4.5 and 10.0.0.1.2", "1.2.3.4.5 and 10.0.0.1.2"),
    ],
)
def test_an_ipv4_address_before_a_full_stop_is_masked(text: str, masked: str) -> None:
    assert PiiRedactor().redact(text) == masked


UNICODE_SPACED = {
    "card": "4111 1111 1111 1111",
    "iban": "DE89 3704 0044 0532 0130 00",
    "lower_iban": "gb82 west 1234 5698 7654 32",
    "phone": "+44 20 7946 0958",
    "nanp": "(415) 555-0100",
    "french": "01 23 45 67 89",
    "ssn": "123-45-6789",
}


def _unicode_forms(value: str) -> list[str]:
    digits = str.maketrans("0123456789", "０１２３４５６７８９")
    arabic = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
    forms = ["\u200f" + value + "\u200f"]  # right-to-left marks around it
    if not value.startswith("0"):  # a national number's trunk 0 is read in ASCII only
        forms += [value.translate(digits), value.translate(arabic)]  # full-width, Arabic-Indic
    # no-break, narrow no-break, thin and figure spaces between the groups,
    # non-breaking hyphens for dashes
    forms += [value.replace(" ", space) for space in ("\u00a0", "\u202f", "\u2009", "\u2007")]
    forms.append(value.replace("-", "\u2011"))
    # an invisible character inside the number, next to a digit: zero-width
    # space, joiner, soft hyphen, direction marks, word joiner, byte-order mark
    at = next(i for i, c in enumerate(value) if c.isdigit()) + 1
    forms += [
        value[:at] + mark + value[at:] for mark in "\u200b\u200d\u00ad\u200e\u200f\u2060\ufeff"
    ]
    if " " in value:  # and right after a space
        space = value.rindex(" ") + 1
        forms.append(value[:space] + "\u200d" + value[space:])
    return [form for form in dict.fromkeys(forms) if form != value]


@pytest.mark.parametrize("template", ["x {} y", "é {}.", "رقم {} شكرا"])
@pytest.mark.parametrize(
    ("kind", "value"),
    [(kind, form) for kind, v in UNICODE_SPACED.items() for form in _unicode_forms(v)],
    ids=ascii,
)
def test_numbers_in_unicode_digits_spaces_and_invisible_characters_are_masked(
    kind: str, value: str, template: str
) -> None:
    # Digits of any script are digits (as Python's \d reads them); a Unicode space
    # or a non-breaking hyphen between groups is a space or a dash; an invisible
    # character inside a number is read through. Each of these sent the number
    # in clear (but full-width and Arabic-Indic cards and phones).
    text = template.format(value)
    out = PiiRedactor().redact(text)
    mask = {"card": "[CARD]", "ssn": "[SSN]"}.get(kind, "[PHONE]")
    mask = "[IBAN]" if "iban" in kind else mask
    assert mask in out and not any(c.isdigit() for c in out), out
    session = ReversiblePiiRedactor().session()
    sent = session.redact(text)
    assert not any(c.isdigit() for c in sent) and session.restore(sent) == text


# Values of every kind in the forms above, right next to each other and to
# punctuation, other scripts, marks and Unicode spaces.
_VALUES = [
    *UNICODE_SPACED.values(),
    *(form for value in UNICODE_SPACED.values() for form in _unicode_forms(value)),
    *LETTERED_IBANS,
    *(_grouped(iban).lower() for iban in LETTERED_IBANS),
    "jane@example.com",
    "10.0.0.1",
    "2001:db8::8a2e:370:7334",
    "SSN: 123456789",
]
# (nothing between two values makes one word of them: "...1111DE89 ..." is no
# IBAN; nor a bare "." one number: "... 67 89.4111 ..." is no French phone)
_GLUE = [" ", ", ", ". ", "(", ")", "\u00a0", "\u200f", "\u200d", "é", "日本", "\n", " / "]


@st.composite
def _mixed(draw: st.DrawFn) -> str:
    parts = [draw(st.sampled_from(_GLUE))]
    for _ in range(draw(st.integers(1, 4))):
        parts += [draw(st.sampled_from(_VALUES)), draw(st.sampled_from(_GLUE))]
    return "".join(parts)


@given(_mixed())
def test_mixed_shapes_restore_exactly_are_idempotent_and_stream_split_anywhere(text: str) -> None:
    masked = PiiRedactor().redact(text)
    assert PiiRedactor().redact(masked) == masked
    reversible = ReversiblePiiRedactor()
    assert reversible.redact(reversible.redact(text)) == reversible.redact(text)
    # (a session takes text that looks like a placeholder for the user's own)
    session = reversible.session()
    sent = session.redact(text)
    assert session.restore(sent) == text
    # every place a stream could cut the answer in two, and in one-character chunks
    for cut in range(len(sent) + 1):
        restorer = StreamRestorer(session.restore, [session.holdback])
        assert restorer.feed(sent[:cut]) + restorer.feed(sent[cut:]) + restorer.flush() == text
    restorer = StreamRestorer(session.restore, [session.holdback])
    assert "".join(restorer.feed(c) for c in sent) + restorer.flush() == text


# (a letter right against a value makes it part of a word: "xDE89 ...", "é+44 ...")
_NOT_LETTERS = st.sampled_from([glue for glue in _GLUE if not glue.isalpha()] + [" é ", " 日本 "])


@given(st.sampled_from(_VALUES), _NOT_LETTERS, _NOT_LETTERS)
def test_each_value_between_any_glue_is_masked(value: str, before: str, after: str) -> None:
    # A value alone between punctuation, another script, a mark or a Unicode
    # space: none of its digits goes out (an address or an SSN's label aside).
    text = before + value + after
    out = PiiRedactor().redact(text)
    kept = value.split(": ")[0] if value.startswith("SSN") else ""
    assert not any(c.isdigit() for c in out.replace(kept, "")), out


def _bench() -> ModuleType:
    bench = str(ROOT / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)  # bench/pii.py imports its neighbour observability.py
    spec = importlib.util.spec_from_file_location("bench_pii", ROOT / "bench" / "pii.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmarks_texts_without_personal_data_come_back_unchanged() -> None:
    texts = _bench().cases()
    # digits20k: code, tables, timestamps, versions, order numbers (the false-positive
    # candidates); chat20k: list numbers, times, prices
    for case in ("short", "chat20k", "chat20k_keys", "digits20k"):
        assert PiiRedactor().redact(texts[case]) == texts[case], case
        assert list(find_pii(texts[case])) == [], case


@pytest.mark.parametrize(
    "name",
    [
        "415-555-0100-415-555-0100-415-555-0100-415-555-0100-415-555-0100",
        "x-" * 19 + "415-555-0100-415-555-0100",
    ],
)
def test_a_name_with_placeholders_stays_within_64_characters(name: str) -> None:
    assert len(name) <= 64
    redactor = ReversiblePiiRedactor()
    for redact in (redactor.redact_name, redactor.session().redact_name):
        out = redact(name)
        assert len(out) <= 64, out
        assert "415-555-0100" not in out and "123-45-6789" not in out
    session = redactor.session()
    assert session.restore(session.redact_name(name)) == name


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ('write to "john doe"@example.com!', "write to [EMAIL]!"),
        ('"j.doe"@mail.example.co.uk', "[EMAIL]"),
        ('é "jürgen m"@example.de é', "é [EMAIL] é"),
        # a quote that closes no local part before the "@" is none
        ('say "hi" to bob@example.com', 'say "hi" to [EMAIL]'),
        ('"a\nb"@example.com', '"a\nb"@example.com'),
    ],
)
def test_an_email_with_a_quoted_local_part_is_masked(text: str, masked: str) -> None:
    # RFC 5321 lets a local part be quoted (spaces in it); the address went out in
    # clear, its domain and all.
    assert PiiRedactor().redact(text) == masked
    session = ReversiblePiiRedactor().session()
    assert session.restore(session.redact(text)) == text


MALTESE = _iban("MT", "MALT011000012345MTLCAST001S")


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("iban nl91abna0417164300 thanks", "iban [IBAN] thanks"),
        ("iban nl91 abna 0417 1643 00.", "iban [IBAN]."),
        ("pay nl91-abna-0417-1643-00 now", "pay [IBAN] now"),
        ("pay NL91-abna-0417-1643-00 now", "pay [IBAN] now"),
        (f"to {MALTESE.lower()} now", "to [IBAN] now"),
        (f"to {_grouped(MALTESE.lower(), '-')} now", "to [IBAN] now"),
        (f"to {_grouped(MALTESE.lower())}, ok", "to [IBAN], ok"),
        ("é nl91abna0417164300 é", "é [IBAN] é"),
        # one wrong digit, a wrong length, check digits out of range: no IBAN
        ("iban nl91abna0417164301 thanks", "iban nl91abna0417164301 thanks"),
        ("iban nl91abna04171643001 thanks", "iban nl91abna04171643001 thanks"),
        ("ab12cdef34567890 de12 mp3 ab12 x86_64 sha256", None),
    ],
)
def test_lower_case_dutch_maltese_and_dashed_ibans_are_masked(
    text: str, masked: str | None
) -> None:
    # Fewer than 13 digits in a row start no card candidate, which the lower-case
    # IBAN was found from: these went out in clear.
    assert MALTESE == "MT84MALT011000012345MTLCAST001S"
    assert PiiRedactor().redact(text) == (text if masked is None else masked)
    redactor = ReversiblePiiRedactor()
    sent = redactor.redact(text)
    assert redactor.redact(sent) == sent
    assert redactor.restore(sent) == text


@given(st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789 -"), max_size=40))
def test_lower_case_words_with_digits_are_an_iban_only_when_one_checks(text: str) -> None:
    for kind, start, end in find_pii(text):
        if kind == "iban":
            assert iban_ok(text[start:end])


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("call 0044 20 7946 0958 today", "call [PHONE] today"),
        ("call 001 415 555 2671.", "call [PHONE]."),
        ("Tel: 0033 1 23 45 67 89", "Tel: [PHONE]"),
        ("Tel:0049-30-12345678", "Tel:[PHONE]"),
        ("00353 1 234 5678", "[PHONE]"),
        ("é 0044 20 7946 0958 é", "é [PHONE] é"),
        ("+1 415 555 2671 ext. 42 please", "[PHONE] please"),
        ("+1 415 555 2671 x42", "[PHONE]"),
        ("+1 415 555 2671 x 42", "[PHONE]"),
        ("+1 415 555 2671 #42", "[PHONE]"),
        ("+1 415 555 2671x42", "[PHONE]"),
        ("call 415-555-0100X123.", "call [PHONE]."),
        ("020 7946 0958x7 or (415) 555-0100x7", "[PHONE] or [PHONE]"),
        ("(415) 555-2671, Ext 42.", "[PHONE]."),
        ("020 7946 0958 extension 1234", "[PHONE]"),
        ("0044 20 7946 0958 ext 7", "[PHONE]"),
        # zero-padded ids, no assigned country code, too few digits: no number
        ("id 0000123456 and 0012 3456 7890", None),
        ("order 0044 1234", None),
        ("v0044 20 7946 0958", None),
        ("+1 415 555 2671 x42abc", "[PHONE] x42abc"),
    ],
)
def test_numbers_dialled_with_00_and_extensions_are_masked(text: str, masked: str | None) -> None:
    assert PiiRedactor().redact(text) == (text if masked is None else masked)
    redactor = ReversiblePiiRedactor()
    sent = redactor.redact(text)
    assert redactor.redact(sent) == sent
    assert redactor.restore(sent) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("mail ana@[192.168.1.1] now", "mail [EMAIL] now"),
        ("mail ana@[IPv6:2001:db8::1].", "mail [EMAIL]."),
        ("é ana.b@[10.0.0.1] é", "é [EMAIL] é"),
        ('"ana b"@[10.0.0.1]', "[EMAIL]"),
        # no address literal: the IP alone, as before
        ("ana@[999.1.1.1] [10.0.0.1]", "ana@[999.1.1.1] [[IP]]"),
    ],
)
def test_an_email_at_an_address_literal_is_masked_whole(text: str, masked: str) -> None:
    # "ana@[192.168.1.1]" went out as "ana@[[IP]]": the person's name in clear.
    assert PiiRedactor().redact(text) == masked
    redactor = ReversiblePiiRedactor()
    sent = redactor.redact(text)
    assert redactor.redact(sent) == sent
    assert redactor.restore(sent) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("電話\u3000+44 20 7946 0958\u3000です", "電話\u3000[PHONE]\u3000です"),
        ("电话\u3000020 7946 0958\u3000", "电话\u3000[PHONE]\u3000"),
        ("メール\u3000ana@example.com\u3000です", "メール\u3000[EMAIL]\u3000です"),
        ("カード\u30004111 1111 1111 1111\u3000", "カード\u3000[CARD]\u3000"),
        ("口座\u3000de89370400440532013000\u3000", "口座\u3000[IBAN]\u3000"),
        ("IP\u300010.0.0.1\u3000と\u30002001:db8::1", "IP\u3000[IP]\u3000と\u3000[IP]"),
        ("\u3000078-05-1120\u3000", "\u3000[SSN]\u3000"),
    ],
)
def test_values_between_ideographic_spaces_are_masked(text: str, masked: str) -> None:
    assert PiiRedactor().redact(text) == masked
