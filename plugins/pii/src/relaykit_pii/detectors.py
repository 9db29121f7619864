"""Recognise personal data: a regular expression finds candidates, a checksum confirms them.

Card numbers must pass the Luhn check and IBANs the ISO 13616 mod-97 check,
so order numbers and other long digit runs are not masked; IPv6 candidates
must parse as addresses.

Every stored record, log line and span passes through here, so the scan is
built for text that holds little or no PII. One alternation of all the
patterns (:func:`reference_regex`, the specification) makes the regex engine
try every pattern at every character. :func:`scan` finds exactly the same
matches, but lets each kind skip ahead to where it could start: an email to
an "@", the digit kinds to a digit, "+" or "(", an IBAN to two capitals and two
digits, an IPv6 address to two colons close together. Those skips are C-level
scans. In ASCII text (most of it) the digit kinds and the IBAN skip further,
by literal searches in the text's character classes (:func:`char_classes`):
the digit kinds to a run of seven of the characters they are made of, the
IBAN to two capitals, two digits and eleven more letters or digits.
:func:`spans` finds ASCII text's matches with one loop over the kinds'
finders (``_find_ascii``), the same matches :func:`scan` merges.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import itertools
import re
from collections.abc import Callable, Iterator

KINDS = ("email", "card", "iban", "ssn", "ipv4", "ipv6", "phone")

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# A national number after its trunk "0", in the shapes the UK (020 7946 0958,
# 07700 900123), Germany (030 12345678, 0151 23456789) and France
# (01 23 45 67 89) print. Each has ten digits or more in groups of set sizes,
# and no digit may follow after a "." or "-": times (06:12), versions (0.1.2),
# prices (0.99), dates and lists of small numbers ("01 02 03") do not fit.
_NATIONAL = (
    r"(?:\d{2}[ \-]\d{4}[ \-]\d{4}|\d{4}[ \-]\d{6}|\d{2,4}[ \-]\d{5,8}|[1-9](?: \d\d){4})"
    r"(?![.\-]?\d)"
)
# A letter or digit that makes a number (or an IBAN) part of a word (\w), but for the letters
# of Chinese, Japanese and Korean: those scripts put no space between words, so
# "電話は+44 20 7946 0958です" is a phone number between two words ("x+44 ..."
# stays a word). Under re.ASCII (ASCII text) this is [A-Za-z0-9_].
_WORD = r"[^\W\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
# No letter or digit right after a phone number, but an extension's "x"
# ("415-555-0100x42": the extension is masked with it, _EXTENSION)
_PHONE_END = rf"(?!(?![xX]\d){_WORD})"
_PATTERNS = {
    # Letters and digits of any script ([^\W_]; in ASCII text, [A-Za-z0-9]): an
    # internationalized address (RFC 6531: renée@example.fr, jürgen@münchen.de)
    # or a quoted local part ("john doe"@example.com, RFC 5321), without an "@" in it
    # or a domain that is an address literal (RFC 5321: ana@[192.168.1.1],
    # ana@[IPv6:2001:db8::1])
    "email": r"(?:[\w.%+\-]+|\"[^\"@\\\r\n]{1,64}\")@(?:[^\W_](?:(?:[^\W_]|-)*[^\W_])?"
    r"(?:\.(?:[^\W_]|-)+)*\.[^\W\d_]{2,}"
    rf"|\[(?:{_OCTET}(?:\.{_OCTET}){{3}}|[Ii][Pp][Vv]6:[0-9A-Fa-f:.]{{2,45}})\])",
    "card": r"(?<![\d\-])\d(?:[ \-]?\d){12,60}(?![\d\-])",  # trimmed to a valid run later
    # spaces or dashes between the groups; a lower-case one is found from its
    # digits (_lower_iban)
    "iban": rf"(?<!{_WORD})[A-Z]{{2}}\d{{2}}(?:[ \-]?[A-Z\d]){{11,30}}(?!{_WORD})",
    # 123-45-6789, or 123456789 (kept only after a label: _ssn_labelled)
    "ssn": r"(?<![\d\-])(?!000|666|9\d\d)\d{3}(?:-(?!00)\d{2}-|(?!00)\d{2})(?!0000)\d{4}"
    r"(?![\d\-])",
    "ipv4": rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\d|\.\d)",
    "ipv6": r"(?<![0-9A-Fa-f:.])(?:[0-9A-Fa-f]{0,4}:){2,7}"
    r"(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4})(?![0-9A-Fa-f]|:[0-9A-Fa-f:])",
    # international (+CC ...) or North American ((415) 555-0100, 415-555-0100),
    # or national with a trunk "0" (_NATIONAL)
    "phone": rf"(?:(?<!\+)(?<!{_WORD})(?:\+\d{{1,3}}[ .\-]?(?:\(\d{{1,4}}\)[ .\-]?)?\d{{1,4}}"
    r"(?:[ .\-]?\d{2,4}){2,4}"
    r"|\(?\d{3}\)?[ .\-]\d{3}[ .\-]\d{4})"
    rf"|(?<![+.\-/:,])(?<!{_WORD})0{_NATIONAL}){_PHONE_END}",
}


@functools.lru_cache(maxsize=128)
def reference_regex(kinds: frozenset[str]) -> re.Pattern[str]:
    """One alternation of the patterns of ``kinds``, most specific first (:data:`KINDS` order).

    This is what :func:`scan` must agree with, match for match; it is slow
    because the engine tries every pattern at every position.
    """
    return re.compile("|".join(f"(?P<{kind}>{_PATTERNS[kind]})" for kind in KINDS if kind in kinds))


# -- the fast scan -----------------------------------------------------------
# A finder returns the leftmost match of its kinds at or after ``pos`` (the
# match's ``lastgroup`` names the kind), or None. Lookbehinds and ``\b`` see
# the text before ``pos``, exactly as they do inside ``finditer``. ``classes``
# is :func:`char_classes` of the text (None for short text and text not ASCII).
Finder = Callable[[str, int, "bytes | None"], "re.Match[str] | None"]
_ORDER = {kind: i for i, kind in enumerate(KINDS)}
_DIGIT_KINDS = ("iban", "card", "ssn", "ipv4", "phone")

# The digit kinds and the IBAN are found by one regex that starts with a
# character class, [\d+(]: every card, SSN, IPv4 address and phone number
# starts with a digit, "+" or "(", and every IBAN has one two characters in.
# The regex engine skips in C from one such character to the next and tries
# the patterns only there (a pattern that starts with a lookbehind, or an
# alternation of several, is tried at every character). So each pattern is
# written here as its tail after that character, and what the whole pattern
# asked of the character, and of the one before it, is a lookbehind at the
# tail's start. The hypothesis test holds the scan to the whole patterns.
_DIGIT_TAILS = {
    # from the IBAN's first check digit on; the IBAN starts two characters earlier
    "iban": rf"(?<=(?<=(?<!{_WORD})[A-Z][A-Z])\d)\d(?:[ \-]?[A-Z\d]){{11,30}}(?!{_WORD})",
    "card": r"(?<=(?<![\d\-])\d)(?:[ \-]?\d){12,60}(?![\d\-])",
    # (?!000|666|9\d\d) at the first digit, asked at the second
    "ssn": r"(?<=(?<![\d\-])\d)(?!(?<=0)00|(?<=6)66|(?<=9)\d\d)\d\d(?:-(?!00)\d{2}-|(?!00)\d{2})"
    r"(?!0000)\d{4}(?![\d\-])",
    # the first octet's alternatives, in _OCTET's order, after its first digit
    "ipv4": r"(?<=(?<![\d.])\d)(?:(?<=2)5[0-5]|(?<=2)[0-4]\d|(?<=1)\d\d|(?<=[1-9])\d|)"
    rf"(?:\.{_OCTET}){{3}}(?!\d|\.\d)",
    # "+" and the international form; "(" and the North American; a digit and the same
    "phone": rf"(?:(?<=(?<!\+)(?<!{_WORD})\+)\d{{1,3}}[ .\-]?(?:\(\d{{1,4}}\)[ .\-]?)?\d{{1,4}}"
    r"(?:[ .\-]?\d{2,4}){2,4}"
    rf"|(?<=(?<!\+)(?<!{_WORD})\()\d{{3}}\)?[ .\-]\d{{3}}[ .\-]\d{{4}}"
    rf"|(?<=(?<!\+)(?<!{_WORD})\d)\d\d\)?[ .\-]\d{{3}}[ .\-]\d{{4}}"
    rf"|(?<=(?<![+.\-/:,])(?<!{_WORD})0){_NATIONAL}){_PHONE_END}",
}
# None of them starts right after a digit (the patterns' lookbehinds say so):
# one look back rejects the inside of a digit run before any pattern is tried.
# And each but the IBAN has six more characters of [\d .\-()] after the first
# (the shortest, an IPv4 address or "+1 23 45", have seven in all), so one look
# ahead rejects most numbers in prose ("3 options", "at 10:30", "1.") at once.
# The head is spelled with [0-9] for ASCII text: the engine tests a class with
# a category in it per character, several times slower.
_DIGIT_HEAD = r"[\d+(](?<!\d.)(?=[\d .\-()]{6})"
_DIGIT_HEAD_ASCII = r"[0-9+(](?<![0-9].)(?=[0-9 .\-()]{6})"
_IBAN_HEAD = r"[\d+(](?<!\d.)(?:(?=[\d .\-()]{6})|(?<=[A-Z][A-Z].))"
_IBAN_HEAD_ASCII = r"[0-9+(](?<![0-9].)(?:(?=[0-9 .\-()]{6})|(?<=[A-Z][A-Z].))"
_IBAN = re.compile(f"(?P<iban>{_PATTERNS['iban']})")
_IBAN_ASCII = re.compile(f"(?P<iban>{_PATTERNS['iban']})", re.ASCII)
_EMAIL = re.compile(f"(?P<email>{_PATTERNS['email']})")
# The same in ASCII text, spelled with ranges: a class with a category in it
# costs a test per character (email-heavy text scanned ~1.5x slower).
_EMAIL_ASCII = re.compile(
    r"(?P<email>(?:[A-Za-z0-9._%+\-]+|\"[^\"@\\\r\n]{1,64}\")@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
    rf"|\[(?:{_OCTET}(?:\.{_OCTET}){{3}}|[Ii][Pp][Vv]6:[0-9A-Fa-f:.]{{2,45}})\]))",
    re.ASCII,
)
_LOCAL_PART = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-"
_LOCAL_CHARS = frozenset(_LOCAL_PART)
_IPV6 = re.compile(f"(?P<ipv6>{_PATTERNS['ipv6']})")
# Every IPv6 match holds two colons with at most four hex digits between them,
# at most four characters after the match starts.
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]{0,4}:")

# ASCII text, though, is first translated to its character classes, one byte
# a character (bytes.translate, ~0.4 ns a character): "0" for [0-9+( .\-)],
# the characters a card, SSN, IPv4 address or phone number is made of, "A"
# for a capital, "x" for the rest. The regex above, a class test per
# character, costs ~3 ns a character however few
# digits the text holds; in the classes the candidates are found by searches
# for a literal, bytes.find's string search (~0.3 ns a character; the regex
# engine's own search for a literal prefix stops at each "0", every space, and
# costs ~10 times more):
# - a card, SSN, IPv4 address or phone number is seven characters of
#   [0-9+( .\-)] or more, its first seven those the head above asks for, and
#   all of it within one run of them: "0000000" finds the runs, and the head
#   regex is tried in each run alone (the characters after a run cannot be
#   part of a match; the one right after it is one the lookaheads read).
# - an IBAN starts with two capitals and two digits, and has eleven capitals,
#   digits or spaces after them: "AA00" and eleven of "0" or "A".
_CLASS_CHARS = ("0123456789+( .-)", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_CLASSES = bytes(
    ord("0") if chr(c) in _CLASS_CHARS[0] else ord("A") if chr(c) in _CLASS_CHARS[1] else ord("x")
    for c in range(256)
)
# two capitals, two digits and eleven more capitals or digits, spaces between
# them or not ("CAMP15 code" and "NW-20931" stop short)
_IBAN_HINT = re.compile(rb"AA00[0A]{11}")


# Below about this length :func:`scan` (and _find's passes after _find_ascii's)
# search ASCII text with regexes alone: there the translation, and the calls
# of the IBAN's own finder and of one search per run, cost more than the class
# tests they save (measured on the realistic turn's prose: 400 characters
# +0.25 us, 600 -0.4 us). _find_ascii translates text of any length: it makes
# fewer calls, and on the 83 characters of bench/pii.py's prompt it pays.
CLASSES_FROM = 512


def char_classes(text: str) -> bytes | None:
    """``text``'s characters by class, one byte each, for the scan.

    None for text that is not ASCII, and for text shorter than
    :data:`CLASSES_FROM` characters: the scan searches those with regexes alone.
    """
    if len(text) < CLASSES_FROM or not text.isascii():
        return None
    return text.encode("ascii").translate(_CLASSES)


def _find_email(text: str, pos: int, classes: bytes | None) -> re.Match[str] | None:
    # An email's local part is the run of local-part characters before its "@",
    # and whether one matches there depends only on what follows the "@". So
    # each "@" (a C scan) is tried once, from the start of that run: searching
    # with the regex would try every start in the run, and every character
    # after a failed "@" (a decorator, a handle), far slower.
    lo = pos
    email = _EMAIL_ASCII if text.isascii() else _EMAIL
    while (at := text.find("@", lo)) >= 0:
        if text[at - 1 : at] == '"' and (quote := text.rfind('"', lo, at - 1)) >= 0:
            # A quoted local part: it has no "@", so it starts after the last one.
            match = email.match(text, quote)
            if match is not None:
                return match
        start = lo + len(text[lo:at].rstrip(_LOCAL_PART))
        if start > lo and text[start - 1].isalnum():
            # A letter or digit of another script (rstrip took the ASCII ones) is
            # part of the run too: walked one character at a time (a slice and
            # rstrip per such letter would copy the text before it each time).
            while start > lo and (text[start - 1] in _LOCAL_CHARS or text[start - 1].isalnum()):
                start -= 1
        if start < at:
            match = email.match(text, start)
            if match is not None:
                return match
        lo = at + 1  # the next local part starts after this "@"
    return None


def _find_ipv6(text: str, pos: int, classes: bytes | None) -> re.Match[str] | None:
    hint = _IPV6_HINT.search(text, pos)
    if hint is None:
        return None
    return _IPV6.search(text, max(pos, hint.start() - 4))


def _find_iban_ascii(text: str, pos: int, classes: bytes | None) -> re.Match[str] | None:
    assert classes is not None
    # The hint's search stops at every capital; a string search for its start
    # is several times faster, and most prose has none (from ``pos`` on: _find
    # calls this again and again as its passes go on).
    pos = classes.find(b"AA00", pos)
    if pos < 0:
        return None
    while (hint := _IBAN_HINT.search(classes, pos)) is not None:
        at = hint.start()
        match = _IBAN_ASCII.match(text, at)
        if match is not None:
            return match
        pos = at + 1
    return None


@functools.lru_cache(maxsize=128)
def _ascii_digit_regex(kinds: tuple[str, ...]) -> re.Pattern[str]:
    """The regex of ``kinds`` (digit kinds, not the IBAN) for ASCII text, tried run by run."""
    tails = "|".join(f"(?P<{kind}>{_DIGIT_TAILS[kind]})" for kind in kinds)
    # \d and \w cost a Unicode look-up per character; in ASCII text re.ASCII
    # means the same and is faster.
    return re.compile(f"{_DIGIT_HEAD_ASCII}(?:{tails})", re.ASCII)


def _ascii_digit_finder(kinds: tuple[str, ...]) -> Finder:
    """The finder of ``kinds`` (digit kinds, not the IBAN) in ASCII text, run by run."""
    regex = _ascii_digit_regex(kinds)

    def find(text: str, pos: int, classes: bytes | None) -> re.Match[str] | None:
        assert classes is not None
        # Runs are found by bytes.find: the regex engine's search for the
        # literal "0000000" stops at every "0" (every space) and costs ~10
        # times more. A run ends at the next "x" or before it (only capitals
        # may come between): every character a match consumes, and every one
        # its lookaheads read but the last two, is one of the run's, so the
        # text may end, for the regex, anywhere from two after the run's end
        # on (a phone number's end reads an extension's "x" and the digit
        # after it), and two after that "x" is as good (what lies between
        # holds no match but in runs the search would come to next).
        while (start := classes.find(b"0000000", pos)) >= 0:
            end = classes.find(b"x", start + 7)
            if end < 0:
                end = len(classes)
            match = regex.search(text, start, end + 2)
            if match is not None:
                return match
            pos = end
        return None

    return find


def _digit_finder(kinds: tuple[str, ...]) -> Finder:
    """The finder of ``kinds`` (digit kinds and the IBAN) in text without classes."""
    tails = "|".join(f"(?P<{kind}>{_DIGIT_TAILS[kind]})" for kind in kinds)
    head, head_ascii = (
        (_IBAN_HEAD, _IBAN_HEAD_ASCII) if "iban" in kinds else (_DIGIT_HEAD, _DIGIT_HEAD_ASCII)
    )
    # \d and \w cost a Unicode look-up per character; in ASCII text
    # (``str.isascii`` reads a flag) re.ASCII means the same and is faster.
    unicode = re.compile(f"{head}(?:{tails})")
    ascii_only = re.compile(f"{head_ascii}(?:{tails})", re.ASCII)
    others = tuple(kind for kind in kinds if kind != "iban")
    if len(others) == len(kinds):
        return lambda text, pos, classes: (ascii_only if text.isascii() else unicode).search(
            text, pos
        )
    # The IBAN's match is found at its first check digit; its own starts two before.
    rest = _digit_finder(others) if others else None

    def find(text: str, pos: int, classes: bytes | None) -> re.Match[str] | None:
        regex = ascii_only if text.isascii() else unicode
        while (match := regex.search(text, pos)) is not None:
            if match.lastgroup != "iban":
                return match
            at = match.start()
            if at - 2 >= pos:
                return _IBAN.match(text, at - 2)
            # That IBAN starts before ``pos``: another kind may start here, or later.
            if rest is not None:
                here = rest(text, at, classes)
                if here is not None and here.start() == at:
                    return here
            pos = at + 1
        return None

    return find


@functools.lru_cache(maxsize=256)
def _finders(kinds: frozenset[str], ascii_text: bool) -> tuple[Finder, ...]:
    finders: list[Finder] = []
    if "email" in kinds:
        finders.append(_find_email)
    if "ipv6" in kinds:
        finders.append(_find_ipv6)
    digits = tuple(kind for kind in _DIGIT_KINDS if kind in kinds)
    if ascii_text:
        if "iban" in digits:
            finders.append(_find_iban_ascii)
        digits = tuple(kind for kind in digits if kind != "iban")
        if digits:
            finders.append(_ascii_digit_finder(digits))
    elif digits:
        finders.append(_digit_finder(digits))
    return tuple(finders)


# What a finder found for one text: from where it searched, and the match (or None).
Memo = dict[Finder, tuple[int, "re.Match[str] | None"]]


def _next(
    find: Finder, text: str, pos: int, memo: Memo | None, classes: bytes | None
) -> re.Match[str] | None:
    if memo is not None:
        # The leftmost match from an earlier position that starts at or after
        # ``pos`` is the leftmost from ``pos`` too (and no match from there
        # means none from here): find_pii scans one text again from later
        # positions, and each finder need not walk the same stretch again.
        seen = memo.get(find)
        if seen is not None and seen[0] <= pos and (seen[1] is None or seen[1].start() >= pos):
            return seen[1]
    found = find(text, pos, classes)
    if memo is not None:
        memo[find] = (pos, found)
    return found


def scan(
    text: str, kinds: frozenset[str], pos: int = 0, memo: Memo | None = None
) -> Iterator[re.Match[str]]:
    """The matches of ``reference_regex(kinds).finditer(text, pos)``, found faster.

    ``finditer`` over an alternation yields, from each position on, the
    leftmost match, the earliest kind in :data:`KINDS` winning a tie. This
    keeps each finder's next match and takes the leftmost of them the same way;
    a finder whose next match overlaps the one just taken searches again after it.
    ``memo`` (one per text) keeps what the finders found for later scans of it.
    """
    return _scan(text, kinds, pos, memo, _classes_for(text, kinds))


def _classes_for(text: str, kinds: frozenset[str]) -> bytes | None:
    # Only the digit kinds and the IBAN search the classes: an email or an IPv6
    # address alone need no translation (~8 us for 20 KB).
    return None if kinds.isdisjoint(_NEEDS_DIGITS) else char_classes(text)


def _scan(
    text: str, kinds: frozenset[str], pos: int, memo: Memo | None, classes: bytes | None
) -> Iterator[re.Match[str]]:
    # Each finder's next match as (start, kind's rank, match, finder): no two
    # finders find the same kind, so min() decides on the first two, in C.
    # A finder that has no next match is done for good.
    finders = _finders(kinds, classes is not None)
    ahead = []
    for find in finders:
        m = find(text, pos, classes) if memo is None else _next(find, text, pos, memo, classes)
        if m is not None:
            ahead.append((m.start(), _ORDER[m.lastgroup or ""], m, find))
    while len(ahead) > 1:
        entry = min(ahead)
        match = entry[2]
        yield match
        pos = match.end()
        still = []
        for entry in ahead:
            if entry[0] < pos:  # overlapped by the match just taken: search on after it
                find = entry[3]
                m = _next(find, text, pos, memo, classes)
                if m is None:
                    continue
                entry = (m.start(), _ORDER[m.lastgroup or ""], m, find)
            still.append(entry)
        ahead = still
    if ahead:  # one finder left: nothing to merge
        last: re.Match[str] | None
        _, _, last, find = ahead[0]
        while last is not None:
            yield last
            last = _next(find, text, last.end(), memo, classes)


# Each ASCII digit as the ASCII digit of its double's digit sum, for the Luhn check.
_DOUBLED = bytes.maketrans(b"0123456789", b"0246813579")


def luhn_ok(digits: str) -> bool:
    """Whether ``digits`` passes the Luhn check (every payment card number does)."""
    if digits.isascii() and digits.isdigit():
        return _ascii_luhn_ok(digits)
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _ascii_luhn_ok(digits: str) -> bool:
    return _luhn_bytes_ok(digits.encode())


def _luhn_bytes_ok(raw: bytes) -> bool:
    # C-level slicing and sums over the bytes: summing ASCII digits sums the
    # digits plus 48 ("0") each, and bytes.translate doubles every other one.
    return (sum(raw[-1::-2] + raw[-2::-2].translate(_DOUBLED)) - 48 * len(raw)) % 10 == 0


def _digits_of(text: str, start: int, end: int) -> bytes:
    # A card match's digits (ASCII text): the match is digits, spaces and dashes.
    return text[start:end].encode("ascii").translate(None, b" -")


#: The length of each country's IBANs (SWIFT's IBAN registry): a run that
#: passes mod-97 but is longer or shorter than its country's is no IBAN.
IBAN_LENGTHS = {
    **dict.fromkeys(("NO",), 15),
    **dict.fromkeys(("BE", "BI"), 16),
    **dict.fromkeys(("DK", "FI", "FO", "GL", "NL", "SD"), 18),
    **dict.fromkeys(("MK", "SI"), 19),
    **dict.fromkeys(("AT", "BA", "EE", "KZ", "LT", "LU", "XK"), 20),
    **dict.fromkeys(("CH", "CR", "HR", "LI", "LV"), 21),
    **dict.fromkeys(("BG", "BH", "DE", "GB", "GE", "IE", "ME", "RS", "VA"), 22),
    **dict.fromkeys(("AE", "GI", "IL", "IQ", "OM", "TL"), 23),
    **dict.fromkeys(("AD", "CZ", "ES", "LY", "MD", "PK", "RO", "SA", "SE", "SK", "TN", "VG"), 24),
    **dict.fromkeys(("PT", "ST"), 25),
    **dict.fromkeys(("IS", "TR"), 26),
    **dict.fromkeys(("FR", "GR", "IT", "MC", "MR", "SM"), 27),
    **dict.fromkeys(("AL", "AZ", "BY", "CY", "DO", "GT", "HU", "LB", "PL", "SV"), 28),
    **dict.fromkeys(("BR", "EG", "JO", "PS", "QA", "UA"), 29),
    **dict.fromkeys(("KW", "MU"), 30),
    **dict.fromkeys(("MT", "SC"), 31),
    **dict.fromkeys(("LC", "RU"), 33),
}


def iban_ok(iban: str) -> bool:
    """Whether ``iban`` (spaces or dashes allowed, any case) has its country's length
    (:data:`IBAN_LENGTHS`) and a valid ISO 13616 mod-97 checksum."""
    s = iban.replace(" ", "").replace("-", "")
    if len(s) != IBAN_LENGTHS.get(s[:2].upper(), 0):
        return False
    # each letter as its number (A = 10 ... Z = 35), by one C-level translate
    rearranged = (s[4:] + s[:4]).upper().translate(_LETTER_VALUES)
    return rearranged.isdecimal() and int(rearranged) % 97 == 1


_LETTER_VALUES = {ord(c): str(10 + i) for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ")}


def _ipv6_ok(text: str) -> bool:
    # Short compressed forms ("a::b", "d::" in C++'s "std::vector") are far more
    # often code than addresses; addresses worth hiding have two groups or more.
    if len(text) < 6 or sum(1 for g in text.split(":") if g) < 2:
        return False
    # Without "::" an address has all eight groups (or six and an IPv4 address):
    # times and ratios like 12:30:45 stop here rather than in ipaddress.
    if "::" not in text and text.count(":") != (6 if "." in text else 7):
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _punctuation_trimmed(kind: str, text: str, start: int, end: int) -> int:
    """The end of the match ``text[start:end]``, less an IPv6 candidate's last colon
    when that colon is punctuation ("at ::1:10: it")."""
    if kind == "ipv6" and text.endswith(":", start, end) and not _ipv6_ok(text[start:end]):
        return end - 1
    return end


def _valid(kind: str, text: str) -> bool:
    if kind == "card":
        digits = text.replace(" ", "").replace("-", "")
        return 13 <= len(digits) <= 19 and luhn_ok(digits)
    if kind == "iban":
        return iban_ok(text)
    if kind == "ipv6":
        return _ipv6_ok(text)
    if kind == "phone":
        # A phone match is digits (\d: each passes isdigit) and these; counting
        # them is a few C calls, a generator over the characters ~1 µs.
        return len(text) - sum(map(text.count, "+() .-")) >= 7
    return True


def find_pii(text: str, kinds: frozenset[str] = frozenset(KINDS)) -> Iterator[tuple[str, int, int]]:
    """``(kind, start, end)`` of every piece of personal data in ``text``, left to right."""
    return iter(spans(text, kinds))


def spans(text: str, kinds: frozenset[str]) -> list[tuple[str, int, int]]:
    """What :func:`find_pii` yields, as a list (the redactors take them all at once)."""
    found = _spans_once(text, kinds)
    # (text[-1:0] is "": the start of the text is calm)
    for _, start, end in found:
        if text[start - 1 : start] not in _CALM or (
            text[end : end + 1] not in _CALM and text[end : end + 2] not in _CALM_PAIRS
        ):
            return _with_glued(text, kinds, found) if _glued(text, found) else found
    return found


# Masking a value changes what stands next to it: "ana@example.com+44 20 7946
# 0958" hid the phone number behind the address's last letter ((?<![\w+])),
# and "1.2.3.4.4111..." the address behind the card's first digit ((?!\.\d));
# once the neighbour was "[EMAIL]" or "<CARD_...>", the next redaction found it,
# so redacting twice changed the text. A value with a character on either side
# that a pattern's look-around reads (a letter or digit, or "+", "(", "-", "_";
# ".", ",", ":", "/" before a letter or digit) is masked in a copy of the text,
# and the copy scanned again, until nothing new is found (past the first scan,
# only windows of it around what the last one found: GLUED_WINDOW): the finds
# of a text and of its redaction agree. The masks' closing "]" (">" in a
# placeholder) reads as no pattern's neighbour, and their tags as no label.
#
# Neighbours that no look-around reads as part of a number, a word or an address
# (the start or end of the text too): most values stand between these, and cost
# one set look-up each.
_CALM = frozenset(["", " ", "\n", "\t", "\r", ")", "]", "}", ">", "<", '"', "'", "!", "?", ";"])
# a sentence's or a clause's end after a value
_CALM_PAIRS = frozenset(p + q for p in ".,:;" for q in ("", " ", "\n"))
_STICKY = "+(-_"
_STICKY_BEFORE = ".,:/"


def _glued(text: str, found: list[tuple[str, int, int]]) -> bool:
    for _, start, end in found:
        after = text[end : end + 1]
        if (
            after
            and (
                after.isalnum()
                or after in _STICKY
                or after in _INVISIBLE  # read through: what follows may be hidden in a run
                or (after in _STICKY_BEFORE and text[end + 1 : end + 2].isalnum())
            )
        ):
            return True
        before = text[start - 1 : start] if start else ""
        if before and (before.isalnum() or before in _STICKY or before in _STICKY_BEFORE):
            return True
    return False


#: each kind's tag, in its mask (``[EMAIL]``) and its placeholders (``<EMAIL_…>``)
TAGS = {
    "email": "EMAIL",
    "card": "CARD",
    "iban": "IBAN",
    "ssn": "SSN",
    "ipv4": "IP",
    "ipv6": "IP",
    "phone": "PHONE",
}


#: How many characters of the text either side of a value found by a rescan are
#: scanned again, masked, for the next one: a chain of values glued to each other
#: ("+44 10 6422 3141+44 10 6422 3141..."), each found only once the one before it
#: is masked, costs a scan of this much per value, not of the whole text.
GLUED_WINDOW = 256
# A window's find this close to a side the window cut (not the text's start or
# end) is not taken: it may run on past the cut, or start otherwise with what
# lies before (an SSN's label, a lookbehind); the longest value but an email
# (a card's run of 61 digits and its separators) is shorter.
_GLUED_MARGIN = 160


def _with_glued(
    text: str, kinds: frozenset[str], found: list[tuple[str, int, int]]
) -> list[tuple[str, int, int]]:
    # The whole masked copy once, then, while something new turns up, windows
    # of the copy around what the last scan found: a find changes what stands
    # next to it, nothing farther. Each value is found once and scanned around
    # once, so a chain of any length costs a few windows per value (linear).
    # A find a window's cut side leaves unsure gets a window of its own, around it.
    found = list(found)
    unsure: list[tuple[str, int, int]] = []
    new = _glued_window(text, kinds, found, 0, len(text), unsure)
    looked: set[tuple[str, int, int]] = set()
    while new or unsure:
        around = sorted([*new, *(f for f in unsure if f not in looked)], key=_find_start)
        looked.update(unsure)
        unsure = []
        windows: list[list[int]] = []
        for _, start, end in around:
            lo, hi = max(0, start - GLUED_WINDOW), min(len(text), end + GLUED_WINDOW)
            if windows and lo <= windows[-1][1]:
                windows[-1][1] = max(windows[-1][1], hi)
            else:
                windows.append([lo, hi])
        new = []
        for lo, hi in windows:
            new += _glued_window(text, kinds, found, lo, hi, unsure)
    return found


def _glued_window(
    text: str,
    kinds: frozenset[str],
    found: list[tuple[str, int, int]],
    lo: int,
    hi: int,
    unsure: list[tuple[str, int, int]],
) -> list[tuple[str, int, int]]:
    """Scans ``text[lo:hi]`` with ``found`` masked as PiiRedactor masks them; adds
    what it finds to ``found`` (kept in order) and returns it, but for the finds
    near a side it cut, which go to ``unsure``."""
    # the window widened to whole finds (a cut find would read as other text)
    first = bisect.bisect_right(found, lo, key=_find_end)
    if first < len(found) and found[first][1] < lo:
        lo = found[first][1]
    last = bisect.bisect_left(found, hi, key=_find_start)
    if last > 0 and found[last - 1][2] > hi:
        hi = found[last - 1][2]
    # the copy, and where each stretch between the masks starts in both texts
    pieces: list[str] = []
    copy_starts, shifts = [0], [lo]
    at, prev = 0, lo
    for kind, start, end in found[first:last]:
        mask = f"[{TAGS[kind]}]"
        pieces += (text[prev:start], mask)
        at += start - prev + len(mask)
        copy_starts.append(at)
        shifts.append(end - at)
        prev = end
    pieces.append(text[prev:hi])
    copy = "".join(pieces)
    more = _spans_once(copy, kinds)
    if not more:
        return []
    # Near a side the window cut, a find is not taken (_GLUED_MARGIN); each
    # other lies in a stretch between masks (no pattern takes a mask's "[" or
    # "]"): moved by that stretch's shift into the text.
    # (measured in the text: the masks between a find and the cut are no part of
    # any match, so the copy's characters there may be fewer)
    low = lo + _GLUED_MARGIN if lo > 0 else 0
    high = hi - _GLUED_MARGIN if hi < len(text) else hi
    added = []
    for kind, start, end in more:
        shift = shifts[bisect.bisect_right(copy_starts, start) - 1]
        start, end = start + shift, end + shift
        if start >= low and end <= high:
            added.append((kind, start, end))
            _insert_union(found, kind, start, end)
        else:
            unsure.append((kind, start, end))
    return added


def _find_start(find: tuple[str, int, int]) -> int:
    return find[1]


def _find_end(find: tuple[str, int, int]) -> int:
    return find[2]


def _insert_union(found: list[tuple[str, int, int]], kind: str, start: int, end: int) -> None:
    # ``found`` (in order, none overlapping) with this find put in its place,
    # as one with the finds it overlaps (see _add_union).
    i = bisect.bisect_right(found, start, key=_find_end)
    j = i
    while j < len(found) and found[j][1] < end:
        j += 1
    if j > i:
        kind = found[i][0] if found[i][1] < start else kind
        start, end = min(start, found[i][1]), max(end, found[j - 1][2])
    found[i:j] = [(kind, start, end)]


def _spans_once(text: str, kinds: frozenset[str]) -> list[tuple[str, int, int]]:
    found: list[tuple[str, int, int]] = []
    # The kinds that could occur in the text at all: cheap C-level checks that
    # let most prose skip most of the scan (an email needs "@", an IPv6 ":",
    # the rest digits).
    kinds = _narrowed(kinds, "@" in text, ":" in text, _has_digit(text))
    if kinds:
        classes = raw = None
        if text.isascii():
            if _ascii_plan(kinds)[2]:
                raw = text.encode("ascii")
                classes = raw.translate(_CLASSES)
            _find_ascii(text, kinds, found, classes)
        elif kinds.isdisjoint(_NEEDS_DIGITS) or not any(c in text for c in _UNUSUAL):
            _find(text, kinds, found)
        else:
            _find_read_through(text, kinds, found)
            # The runs are walked in the text as the scan read it too, a space for
            # each Unicode space, a dash for each hyphen (one for one: the offsets
            # stay): "0044\u00a020\u00a07946\u00a00958" went out in clear.
            text = _HYPHEN.sub("-", _SPACE.sub(" ", text))
        iban, phone = "iban" in kinds, "phone" in kinds
        if iban or phone:
            if classes is None:  # (one per other character: the offsets stay)
                classes = text.encode("ascii", "replace").translate(_CLASSES)
            if classes.find(b"0000000") >= 0:  # a run (most short texts have none)
                ibans, dialled = _runs_may_hold(text, raw, iban, phone)
                if ibans or dialled:
                    _find_in_runs(text, found, classes, ibans, dialled)
            if phone and found:
                _with_extensions(text, found)
    return found


_RUN_REST = re.compile(rb"0*")
# ASCII letters as "a", digits as "0", the rest "x": an IBAN's check digits (two
# letters at a word's start, two digits: _IBAN_CHECK_DIGITS) are "xaa00" in them.
_WORD_CLASSES = (
    bytes(
        ord("a") if chr(c).isalpha() else ord("0") if chr(c).isdigit() else ord("x")
        for c in range(128)
    )
    + b"x" * 128
)


def _runs_may_hold(text: str, raw: bytes | None, iban: bool, phone: bool) -> tuple[bool, bool]:
    """Whether _find_in_runs may find a lower-case IBAN (``iban``) and a number
    dialled with "00" (``phone``) in ``text`` (``raw``: ``text`` encoded, when
    it is ASCII), as one C-level search each tells; False only where it finds none.

    Most texts hold neither: no "00" (every such number starts with one), and no
    two ASCII letters at a word's start before two digits (an IBAN's check
    digits; "CAMP15" and "NW-20931" are none). The walk costs ~8-12 k instructions
    a run in Python (the search, the run's end, the checks), and a run follows a
    word in most prose ("card 4111 ...", "is +44 ..."); these cost ~20 k for 600
    characters (a translation and two searches), paid only when the text has a
    run. (bench/observability.py's realistic user message, three runs: its spans
    148 k -> 131 k instructions; the answer, two runs: 129 k -> 131 k.)
    """
    phone = phone and "00" in text
    if iban and raw is not None:  # (in other text the digits may be any script's)
        words = raw.translate(_WORD_CLASSES)
        iban = words.startswith(b"aa00") or b"xaa00" in words
    return iban, phone


def _find_in_runs(
    text: str, found: list[tuple[str, int, int]], classes: bytes, iban: bool, phone: bool
) -> None:
    # Two shapes the scan's patterns leave out, each with a run of seven
    # digits, spaces, dashes or the like (a class "0" run, as the digit kinds'
    # finder searches them by a string search in the text's classes):
    # - a number dialled with "00" for the "+" (_DIALLED_ABROAD), the "00" in
    #   such a run;
    # - a lower- or mixed-case IBAN with fewer than 13 digits in a row (Dutch
    #   "nl91abna0417164300", Maltese, dashed ones with letters before the
    #   digits), which starts no card candidate, so _lower_iban never sees it:
    #   it has letters in its BBAN and such a run right after one (every
    #   country's account numbers have one); its check digits (two letters at
    #   a word's start, two digits) are looked for up to an IBAN's length
    #   before the run, with the country's length and the mod-97 check.
    # (A regex for the check digits over the whole text tested every
    # character: +300% on 20 KB of chat; one for the "00" form, whose
    # lookbehinds come first, +1000%.)
    pos = done = i = 0
    while (run := classes.find(b"0000000", pos)) >= 0:
        rest = _RUN_REST.match(classes, run + 7)  # (it always matches: "0*")
        pos = rest.end() if rest is not None else run + 7  # the run's end
        if phone and (at := text.find("00", run, pos)) >= 0:
            _dialled_abroad(text, found, at, pos)
            i = 0
        if not (iban and text[run - 1 : run].isalpha() and text[run - 1].isascii()):
            continue
        while i < len(found) and found[i][2] <= run:
            i += 1  # (the finds are in order, and so are the runs)
        if i < len(found) and found[i][1] < pos:
            continue  # a find (a card, a phone number) holds it, or part of it
        lo = max(done, run - _IBAN_BEFORE, 2)
        done = run
        if not _DIGIT.search(text, lo, run):
            continue  # no check digits before it
        for m in _IBAN_CHECK_DIGITS.finditer(text, lo, run):
            if (number := _iban_at(text, m.start() - 2, run)) is not None:
                _insert_union(found, "iban", *number)
                done = pos = max(pos, number[1])
                i = 0
                break


# An international number with "00" for the "+" (as most of Europe dials
# abroad: "0044 20 7946 0958"): a country code, then a space, dot or dash (a
# zero-padded id or account number, "0012345678", has none there), and groups
# as after a "+". The country code must be one the ITU assigned (its first
# digits: 1, 7, the two-digit codes, and the first two digits of the three-digit
# ones), so "0012 3456 7890" is no number; no trunk "0" follows it (but in
# Italy's numbers), and no group of digits stands right before or after it
# ("DE88 3704 0044 0532 0130 00", "001-01-0001 42").
_DIALLED_ABROAD = re.compile(
    rf"00(?<=(?<![+.\-/])(?<!{_WORD})(?<!\d[ .\-])00)([1-9]\d{{0,2}})[ .\-]"
    r"(?:\(\d{1,4}\)[ .\-]?)?"
    # its end as a "+" number's (_PHONE_END): an extension's "x" may follow
    rf"(\d)\d{{0,3}}(?:[ .\-]?\d{{2,4}}){{2,4}}(?!(?![xX]\d){_WORD}|[ .\-]?\d)"
)
_COUNTRY_CODES = frozenset(
    re.findall(
        r"\d+",
        "1 7 20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58"
        " 60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98",
    )
)
_COUNTRY_CODE_HEADS = frozenset(
    re.findall(r"\d+", "21 22 23 24 25 26 29 35 37 38 42 50 59 67 68 69 80 85 87 88 96 97 99")
)


def _dialled_abroad(text: str, found: list[tuple[str, int, int]], at: int, end: int) -> None:
    # each "00" from ``at`` on, before ``end``: a run may hold several numbers
    # ("0044 20 7946 0958. 0033 1 23 45 67 89"), the search goes on after each
    while 0 <= at < end:
        m = _DIALLED_ABROAD.match(text, at)
        if m is not None and _dialled_abroad_ok(m):
            _insert_union(found, "phone", *m.span())
            at = text.find("00", m.end(), end)
        else:
            at = text.find("00", at + 1, end)


def _dialled_abroad_ok(m: re.Match[str]) -> bool:
    code = m[1]
    if m[2] == "0" and code != "39":
        return False  # a trunk "0" after the country code
    if code not in _COUNTRY_CODES and not (len(code) == 3 and code[:2] in _COUNTRY_CODE_HEADS):
        return False
    # E.164: at most 15 digits with the country code, at least 7 after it
    digits = len(m[0]) - sum(map(m[0].count, "() .-")) - 2
    return 7 + len(code) <= digits <= 15


# A phone number's extension, masked with it: "+1 415 555 2671 ext. 42",
# "... x42", "... #42", "..., extension 42"
_EXTENSION = re.compile(
    r",? ?(?:(?:[Ee][Xx][Tt](?:[Ee][Nn][Ss][Ii][Oo][Nn])?\.?|[Xx]\.?) ?|#)\d{1,6}"
    rf"(?!{_WORD}|[.\-]?\d)"
)


def _with_extensions(text: str, found: list[tuple[str, int, int]]) -> None:
    for i, (kind, start, end) in enumerate(found):
        if (
            kind == "phone"
            and (ext := _EXTENSION.match(text, end)) is not None
            and (i + 1 == len(found) or found[i + 1][1] >= ext.end())
        ):
            found[i] = (kind, start, ext.end())


# Numbers as word processors, web pages and right-to-left text print them: a
# no-break, narrow no-break (French), figure or thin space between the groups,
# a non-breaking hyphen, an invisible character inside (a
# zero-width space, non-joiner or joiner, a soft hyphen, a direction mark, a
# word joiner, a byte-order mark). The reader sees the number; the patterns
# saw none, and it went out in clear. Text that is not ASCII is searched for
# each with ``in`` (memchr; none at all in text of Latin-1 characters but the
# first two): a regex's class of them cost a test per character, +45% on a
# 20 KB text with one "é". (The ideographic space is left out: its search
# walks every character of Chinese or Japanese text, +3.5% on 20 KB.)
_SPACES = "\u00a0\u2007\u2009\u202f"
_HYPHENS = "\u2011"
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"
_UNUSUAL = tuple(_SPACES + _HYPHENS + _INVISIBLE)
_SPACE = re.compile(f"[{_SPACES}]")
_HYPHEN = re.compile(f"[{_HYPHENS}]")
# Read through inside a number only, a digit on one side and a digit, space or
# dash on the other: elsewhere the mark keeps apart what a pattern's
# look-behind must see apart ("Tel\u200e+44 ...", ".\u200f01 23 45 67 89").
_INVISIBLE_IN_NUMBER = re.compile(
    f"(?<=[\\d \\-])[{_INVISIBLE}]+(?=\\d)|(?<=\\d)[{_INVISIBLE}]+(?=[\\d \\-])"
)


def _find_read_through(text: str, kinds: frozenset[str], found: list[tuple[str, int, int]]) -> None:
    # Found in the text as read (a space for each Unicode space, a dash for
    # each hyphen, invisible characters inside numbers left out), and mapped
    # back: a find spans the characters read through inside it, not those at
    # its edges.
    read = _HYPHEN.sub("-", _SPACE.sub(" ", text))  # one for one: the offsets stay
    pieces: list[str] = []
    origin: list[int] = []  # each read character's offset in ``text``
    last = 0
    for m in _INVISIBLE_IN_NUMBER.finditer(read):
        pieces.append(read[last : m.start()])
        origin += range(last, m.start())
        last = m.end()
    if not pieces:
        _find(read, kinds, found)
        return
    inner: list[tuple[str, int, int]] = []
    pieces.append(read[last:])
    origin += range(last, len(read))
    read = "".join(pieces)
    _find(read, kinds, inner)
    found += [(kind, origin[s], origin[e - 1] + 1) for kind, s, e in inner]


# Kinds whose pattern match is the thing itself: no checksum or parse to pass.
# (An SSN is, but for the 9-digit form, and an IPv4 address, but after a
# version marker: their few extra checks are _ssn_ok's and _ipv4_ok's.)
_UNCHECKED = frozenset(("email",))
# "SSN" or "social security" within this many characters before nine digits
# (not "[SSN]", the mask: an order number after a masked SSN was masked when the
# redacted text was redacted again)
_SSN_LABEL = re.compile(r"(?i)\b(?:(?<!\[)ssns?(?!\])|social[ \-]security)\b")
_SSN_LABEL_REACH = 40


def _ssn_ok(text: str, start: int) -> bool:
    # 123-45-6789 is an SSN by its shape; 123456789 could be any order or
    # account number, so it is one only after a label.
    return text[start + 3] == "-" or (
        _SSN_LABEL.search(text, max(0, start - _SSN_LABEL_REACH), start) is not None
    )


def _ipv4_ok(text: str, start: int) -> bool:
    # "v10.0.0.1" and "version 1.2.3.4" are versions, not addresses: a "v" that
    # starts a word, or the word "version" and one space, right before.
    before = text[start - 1] if start else ""
    if before == " ":
        return not (
            start >= 8
            and text[start - 8 : start - 1].lower() == "version"
            and not _word_char(text, start - 9)
        )
    if before in ("v", "V"):
        return _word_char(text, start - 2)
    return True


def _word_char(text: str, i: int) -> bool:
    # whether text[i] is a character \b counts as a word's (none before the start)
    return i >= 0 and (text[i].isalnum() or text[i] == "_")


# A lower-case or mixed-case IBAN ("de89 3704 0044 0532 0130 00", "gb82 west
# 1234 5698 7654 32", printed so by some banks and typed so by users): the
# scan for capitals cannot see it, but a run of 13 digits or more in it starts
# a card candidate, right at its check digits or after letters of its BBAN (a
# bank code, Italy's CIN). So a card candidate is first tried as part of an
# IBAN that starts a little before it, where two cheap looks say one may: a
# letter right before the candidate, or, in groups of four, check digits two
# groups back. A card in prose has neither ("my card is 4111 ..."), and costs
# two slices; no pass of its own over the text.
#
# Check digits after a word's first two letters: a pattern that starts with
# a digit class is searched for by the engine's quick skip to a digit (one
# that starts with the letters, or a look-behind, is tried at every character).
_IBAN_CHECK_DIGITS = re.compile(r"\d\d(?<=(?<![^\W_])[A-Za-z]{2}\d\d)")
# An IBAN has 34 letters and digits at most, a card candidate 13 or more, so
# at most 21 of them, each after a space or a dash, come before the candidate.
_IBAN_BEFORE = 2 * (34 - 13)


@functools.lru_cache(maxsize=64)
def _loose_iban_regex(length: int) -> re.Pattern[str]:
    return re.compile(rf"[A-Za-z]{{2}}\d\d(?:[ \-]?[A-Za-z\d]){{{length - 4}}}(?![^\W_])")


def _lower_iban(text: str, start: int) -> tuple[int, int] | None:
    """The span of an IBAN, in any case, that holds the start of the card candidate at ``start``."""
    if text[start - 1 : start].isalpha():
        # The candidate starts with the check digits ("de89 3704 ..."), or after
        # letters of the BBAN ("gb82west1234...", "it60 x054 2811 ...").
        if (iban := _iban_at(text, start - 2, start)) is not None:
            return iban
        lo = max(2, start - _IBAN_BEFORE)
        for m in _IBAN_CHECK_DIGITS.finditer(text, lo, min(start, len(text))):
            if (iban := _iban_at(text, m.start() - 2, start)) is not None:
                return iban
        return None
    if text[start - 8 : start - 6].isdigit() and text[start - 1 : start] in (" ", "-"):
        return _iban_at(text, start - 10, start)  # "gb82 west 1234 5698 7654 32"
    return None


def _iban_at(text: str, at: int, start: int) -> tuple[int, int] | None:
    # An IBAN from ``at`` (a word's start) that reaches past ``start``.
    if at < 0 or (at > 0 and text[at - 1].isalnum()) or not text[at : at + 2].isalpha():
        return None
    if text[at + 2 : at + 4] in ("00", "01", "99"):
        return None  # check digits are 02 to 98 (ISO 13616)
    length = IBAN_LENGTHS.get(text[at : at + 2].upper())
    if length is None:
        return None
    iban = _loose_iban_regex(length).match(text, at)
    if iban is None or iban.end() <= start or not iban_ok(iban[0]):
        return None
    return at, iban.end()


def _add_union(found: list[tuple[str, int, int]], kind: str, start: int, end: int) -> None:
    # A find that starts inside earlier ones (an email's domain whose last
    # letters are a lower-case IBAN's country) is masked with them as one:
    # masking each apart would leave the earlier one's end or this one's start.
    while found and found[-1][2] > start:
        kind, start = found[-1][0], min(start, found[-1][1])
        end = max(end, found.pop()[2])
    found.append((kind, start, end))


def _find(
    text: str,
    kinds: frozenset[str],
    found: list[tuple[str, int, int]],
    pos: int = 0,
    without: str = "",
    until: int = 0,
    memo: Memo | None = None,
) -> None:
    # A card (or IBAN) candidate is a whole digit run, and the number in it may
    # take only part of it, or none; what the number leaves of the run may begin
    # something that runs on past it ("4111 1111 1111 1111 42 10.0.0.1",
    # "001-01-0001 42 10::10"). So the scan starts again where the number ends,
    # or, when the run holds none, at the run without that kind until its end.
    # ``pos``: from where; ``without``: the kind left out, and ``until`` where
    # (_find_ascii hands a text over in the middle, as a pass ends).
    # ``memo``: what the finders found, for the passes after the first (most
    # texts need one): each pass scans on from where the last left off, and a
    # finder need not walk again the stretch it walked for an earlier pass.
    classes = _classes_for(text, kinds)  # once for all the passes
    while True:
        active = kinds - {without} if without else kinds
        last = pos  # how far the matches handled in this pass reach
        for match in _scan(text, active, pos, memo, classes):
            kind = match.lastgroup
            assert kind is not None
            start, end = match.span()
            if without and start >= until:
                pos, without = max(last, until), ""  # past the run: every kind again
                break
            if kind in _UNCHECKED:
                found.append((kind, start, end))
            elif (
                kind == "card"
                and without != "iban"
                and "iban" in kinds
                and (iban := _lower_iban(text, start)) is not None
            ):
                _add_union(found, "iban", *iban)
                pos = iban[1]  # what the IBAN leaves of the run
                memo = {} if memo is None else memo
                break
            elif kind == "ssn":
                if _ssn_ok(text, start):
                    found.append((kind, start, end))
            elif kind == "ipv4":
                if _ipv4_ok(text, start):
                    found.append((kind, start, end))
            elif kind == "card" or kind == "iban":
                # A long digit run may hold a card, or only an SSN or a phone number
                # next to other digits: the checksummed run is the number.
                run = _checksummed_run(kind, text, start, end)
                if run is None:
                    if not without:
                        pos, without, until = start, kind, end  # the run, for the others
                        memo = {} if memo is None else memo
                        break
                    _within(text, start, end, active - {kind}, found)  # one in another
                    last = end
                    continue
                if run[0] > start:
                    _within(text, start, run[0], active, found)
                found.append((kind, *run))
                if run[1] < end:
                    pos = run[1]  # what the number leaves of the run
                    memo = {} if memo is None else memo
                    break
            else:
                end = _punctuation_trimmed(kind, text, start, end)
                if _valid(kind, text[start:end]):
                    found.append((kind, start, end))
            last = end
        else:
            if not without:
                return
            pos, without = max(last, until), ""


@functools.lru_cache(maxsize=256)
def _ascii_plan(
    kinds: frozenset[str],
) -> tuple[tuple[Finder, ...], Finder | None, bool]:
    # The finders of the kinds other than the digit kinds (an email, an IBAN, an
    # IPv6 address: each rare in prose, each with a C-level skip of its own),
    # the digit kinds' finder, and whether the text's classes are searched.
    others: list[Finder] = []
    if "email" in kinds:
        others.append(_find_email)
    if "iban" in kinds:
        others.append(_find_iban_ascii)
    if "ipv6" in kinds:
        others.append(_find_ipv6)
    digits = tuple(kind for kind in _DIGIT_KINDS if kind in kinds and kind != "iban")
    find = _ascii_digit_finder(digits) if digits else None
    return tuple(others), find, find is not None or "iban" in kinds


def _find_ascii(
    text: str, kinds: frozenset[str], found: list[tuple[str, int, int]], classes: bytes | None
) -> None:
    # _find's first pass over ASCII text, with _scan's merge written out: the
    # digit kinds' next match, and the few of the other kinds (an email, an
    # IBAN, an IPv6 address), with no generator, no memo and no min() but
    # when two kinds' matches are ahead. It takes the same matches in the same
    # order (the leftmost next match, the earlier kind on a tie; what a match
    # overlaps is searched for again after it), and hands the text to _find
    # where a digit run is no number or more than one, as _find's pass would end.
    # (``classes``: the text's, when the plan searches them; None when not)
    others, digits, _ = _ascii_plan(kinds)
    iban = "iban" in kinds
    order = _ORDER
    # each other finder's next match: (start, kind's rank, match, finder)
    ahead = []
    for find in others:
        m = find(text, 0, classes)
        if m is not None:
            ahead.append((m.start(), order[m.lastgroup or ""], m, find))
    dm = None if digits is None else digits(text, 0, classes)  # their next match
    dkey = (0, 0) if dm is None else (dm.start(), order[dm.lastgroup or ""])
    while True:
        need = False  # whether the digit kinds search again after this match
        if ahead:
            first = min(ahead) if len(ahead) > 1 else ahead[0]
            if dm is not None and dkey < first[:2]:
                match, dm, need = dm, None, True
            else:
                match = first[2]
        elif dm is not None:
            match, dm, need = dm, None, True
        else:
            return
        kind = match.lastgroup
        assert kind is not None
        start, end = match.span()
        if kind in _UNCHECKED:
            found.append((kind, start, end))
        elif kind == "card" and iban and (lower := _lower_iban(text, start)) is not None:
            _add_union(found, "iban", *lower)
            end = lower[1]  # the scan goes on after the IBAN, the rest of the run too
        elif (
            kind == "card"
            and 13 <= len(raw := _digits_of(text, start, end)) <= 19
            and (_luhn_bytes_ok(raw))
        ):
            found.append((kind, start, end))  # the usual card: the match is the number
        elif kind == "card" or kind == "iban":
            number = _checksummed_run(kind, text, start, end)
            if number is None:  # the run, for the other kinds
                _find(text, kinds, found, start, kind, end, {})
                return
            if number[0] > start:
                _within(text, start, number[0], kinds, found)
            found.append((kind, *number))
            if number[1] < end:  # what the number leaves of the run
                _find(text, kinds, found, number[1], "", 0, {})
                return
        elif kind == "phone":
            # as _valid's: a phone match is digits and these, here all ASCII
            if len(text[start:end].encode("ascii").translate(None, b"+() .-")) >= 7:
                found.append((kind, start, end))
        elif kind == "ssn":
            if _ssn_ok(text, start):
                found.append((kind, start, end))
        elif kind == "ipv4":
            if _ipv4_ok(text, start):
                found.append((kind, start, end))
        else:
            # (the scan goes on after the match, ``end``, not after what was kept)
            trimmed = _punctuation_trimmed(kind, text, start, end)
            if _valid(kind, text[start:trimmed]):
                found.append((kind, start, trimmed))
        # What the match overlaps searches again after it (the digit kinds'
        # match just taken included).
        if need or (dm is not None and dkey[0] < end):
            assert digits is not None
            dm = digits(text, end, classes)
            if dm is not None:
                dkey = (dm.start(), order[dm.lastgroup or ""])
        if ahead:
            still = []
            for entry in ahead:
                if entry[0] < end:
                    find = entry[3]
                    m = find(text, end, classes)
                    if m is None:
                        continue
                    entry = (m.start(), order[m.lastgroup or ""], m, find)
                still.append(entry)
            ahead = still


_DIGIT = re.compile(r"\d")
_NEEDS_DIGITS = frozenset(("card", "iban", "ssn", "ipv4", "phone"))


def _has_digit(text: str) -> bool:
    if not text.isascii():
        return _DIGIT.search(text) is not None  # any Unicode digit
    # Ten ``in`` (memchr) are several times faster on long text than one
    # search for [0-9], which calls a class test per character.
    return (
        "0" in text
        or "1" in text
        or "2" in text
        or "3" in text
        or "4" in text
        or "5" in text
        or "6" in text
        or "7" in text
        or "8" in text
        or "9" in text
    )


@functools.lru_cache(maxsize=256)
def _narrowed(kinds: frozenset[str], at: bool, colon: bool, digit: bool) -> frozenset[str]:
    if not at:
        kinds = kinds - {"email"}
    if not colon:
        kinds = kinds - {"ipv6"}
    if not digit:
        kinds = kinds - _NEEDS_DIGITS
    return kinds


def _within(
    text: str, start: int, end: int, kinds: frozenset[str], found: list[tuple[str, int, int]]
) -> None:
    if end - start < 6:  # too short for any kind (the shortest, an email like a@b.co, has 6)
        return
    # Scanned from ``start`` in a text that begins a little before it: cut at
    # ``start``, the part lost what the checks read before a match, a 9-digit
    # SSN's label first ("SSN: 123456789 4111 1111 1111 1111" sent the SSN in
    # clear), and the lookbehinds' characters.
    lo = max(0, start - _CONTEXT)
    part = text[lo:end]
    kinds = _narrowed(kinds, "@" in part, ":" in part, _has_digit(part))
    if not kinds:
        return
    inner: list[tuple[str, int, int]] = []
    _find(part, kinds, inner, start - lo)
    found += [(kind, lo + s, lo + e) for kind, s, e in inner]


# How far back any check reads from a match's start: an SSN's label and the
# character before it (for its \b), a version marker, the patterns' lookbehinds.
_CONTEXT = _SSN_LABEL_REACH + 8


# How many characters other than separators a card number and an IBAN have.
_LENGTHS = {"card": (13, 19), "iban": (15, 34)}


def _checksummed_run(kind: str, text: str, start: int, end: int) -> tuple[int, int] | None:
    """The longest run of whole groups in ``text[start:end]`` that passes the checksum.

    The pattern is greedy, so "order 42 4111 1111 1111 1111 42" is one candidate;
    trying sub-runs that start and end at group boundaries finds the card inside.
    """
    if kind == "card":  # the usual case: the candidate is the number
        digits = text[start:end].replace(" ", "").replace("-", "")
        # its characters are all digits (\d), so ASCII ones need no other test
        if 13 <= len(digits) <= 19 and (
            _ascii_luhn_ok(digits) if digits.isascii() else luhn_ok(digits)
        ):
            return start, end
    elif iban_ok(text[start:end]):
        return start, end
    seps = [i for i in range(start, end) if text[i] in " -"]
    starts = [start, *(i + 1 for i in seps)]
    ends = [*seps, end]
    # Only a run of the number's length can pass (the checks reject the rest),
    # so only those are built and checked: 61 one-digit groups make 1,891 runs
    # and a few hundred of them have 13-19 digits. Separators are single, so
    # the run from starts[i] to ends[j] holds counted[j] - (starts[i] - i)
    # characters that are not separators, and counted increases.
    shortest, longest = _LENGTHS[kind]
    counted = [e - j for j, e in enumerate(ends)]
    bounds = [(i, bisect.bisect_left(counted, s - i + shortest, i)) for i, s in enumerate(starts)]
    spans = [
        (i, j)
        for i, first in bounds
        for j in range(first, bisect.bisect_right(counted, starts[i] - i + longest, first))
    ]
    if kind == "card":
        sums = _luhn_sums(text, start, end)
        spans = [
            (i, j)
            for i, j in spans
            if _luhn_sub_run(sums, starts[i] - start - i, counted[j] - start)
        ]
        if not spans:
            return None
        i, j = min(spans, key=lambda r: (starts[r[0]] - ends[r[1]], starts[r[0]]))
        return starts[i], ends[j]
    runs = sorted(((starts[i], ends[j]) for i, j in spans), key=lambda r: (r[0] - r[1], r[0]))
    for s, e in runs:
        if _valid(kind, text[s:e]):
            return s, e
    return None


def _luhn_sums(text: str, start: int, end: int) -> list[list[int]]:
    """Prefix sums for :func:`_luhn_sub_run` over the digits of ``text[start:end]``.

    A candidate of 61 one-digit groups ("0 1 0 0 1 ...", a printed matrix) has
    hundreds of sub-runs of a card's length; checking each from scratch cost
    ~1 ms per candidate. Luhn's sum is the digits at odd places from the right
    plus the doubled ones at even places, so prefix sums of the digits and of
    their doubles, by the parity of their index, give any run's sum at once:
    ``sums[p][k]`` adds the digits (p = 0, 1), or their doubles' digit sums
    (p = 2, 3), below index k whose index has parity p % 2.
    """
    values = [int(c) for c in text[start:end] if c not in " -"]
    doubled = [v * 2 - 9 if v > 4 else v * 2 for v in values]
    sums = []
    for digits in (values, doubled):
        for parity in (0, 1):
            kept = [0] * len(digits)
            kept[parity::2] = digits[parity::2]
            sums.append(list(itertools.accumulate(kept, initial=0)))
    return sums


def _luhn_sub_run(sums: list[list[int]], a: int, b: int) -> bool:
    # Digits a to b - 1 pass Luhn: the last digit's parity is summed plain, the other doubled.
    last = (b - 1) % 2
    plain, doubled = sums[last], sums[3 - last]
    return (plain[b] - plain[a] + doubled[b] - doubled[a]) % 10 == 0
