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
scans, so prose costs a few microseconds however long it is.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Iterator

KINDS = ("email", "card", "iban", "ssn", "ipv4", "ipv6", "phone")

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_PATTERNS = {
    "email": r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}",
    "card": r"(?<![\d\-])\d(?:[ \-]?\d){12,60}(?![\d\-])",  # trimmed to a valid run later
    "iban": r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b",
    "ssn": r"(?<![\d\-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d\-])",
    "ipv4": rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\d.]|\.\d)",
    "ipv6": r"(?<![0-9A-Fa-f:.])(?:[0-9A-Fa-f]{0,4}:){2,7}"
    r"(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4})(?![0-9A-Fa-f]|:[0-9A-Fa-f:])",
    # international (+CC ...) or North American ((415) 555-0100, 415-555-0100)
    "phone": r"(?<![\w+])(?:\+\d{1,3}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d{1,4}(?:[ .\-]?\d{2,4}){2,4}"
    r"|\(?\b\d{3}\)?[ .\-]\d{3}[ .\-]\d{4})(?!\w)",
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
# match's ``lastgroup`` names the kind). Lookbehinds and ``\b`` see the text
# before ``pos``, exactly as they do inside ``finditer``.
Finder = Callable[[str, int], "re.Match[str] | None"]
_ORDER = {kind: i for i, kind in enumerate(KINDS)}
_DIGIT_KINDS = ("card", "ssn", "ipv4", "phone")
# Where a digit kind can start: each pattern starts with a digit, "+" or "(".
# ``\d`` takes any Unicode digit and costs a category look-up per character;
# in ASCII text (``str.isascii`` is a flag, not a scan) it means [0-9], which
# the regex engine tests faster, so each search has an ASCII twin.
_DIGIT_START = re.compile(r"[\d+(]")
_DIGIT_START_ASCII = re.compile(r"[0-9+(]")
_DIGIT_RUN = re.compile(r"\d+")
_DIGIT_RUN_ASCII = re.compile(r"[0-9]+")
_EMAIL = re.compile(f"(?P<email>{_PATTERNS['email']})")
_IBAN = re.compile(f"(?P<iban>{_PATTERNS['iban']})")
# [A-Z]{2}\d{2} spelled out: the engine scans for a repeat's first character
# several times slower than for a plain class.
_IBAN_START = re.compile(r"[A-Z][A-Z]\d\d")
_IPV6 = re.compile(f"(?P<ipv6>{_PATTERNS['ipv6']})")
# Every IPv6 match holds two colons with at most four hex digits between them,
# at most four characters after the match starts.
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]{0,4}:")


def _find_email(text: str, pos: int) -> re.Match[str] | None:
    at = text.find("@", pos)
    if at < 0:
        return None
    # The local part holds no space, so no email starts before the last space
    # ahead of the first "@"; the search starts there instead of at ``pos``.
    return _EMAIL.search(text, max(pos, text.rfind(" ", pos, at) + 1))


def _find_iban(text: str, pos: int) -> re.Match[str] | None:
    while (start := _IBAN_START.search(text, pos)) is not None:
        match = _IBAN.match(text, start.start())
        if match is not None:
            return match
        pos = start.start() + 1
    return None


def _find_ipv6(text: str, pos: int) -> re.Match[str] | None:
    hint = _IPV6_HINT.search(text, pos)
    if hint is None:
        return None
    return _IPV6.search(text, max(pos, hint.start() - 4))


def _digit_finder(kinds: tuple[str, ...]) -> Finder:
    regex = re.compile("|".join(f"(?P<{kind}>{_PATTERNS[kind]})" for kind in kinds))

    def find(text: str, pos: int) -> re.Match[str] | None:
        ascii_only = text.isascii()
        starts = _DIGIT_START_ASCII if ascii_only else _DIGIT_START
        runs = _DIGIT_RUN_ASCII if ascii_only else _DIGIT_RUN
        while (start := starts.search(text, pos)) is not None:
            p = start.start()
            match = regex.match(text, p)
            if match is not None:
                return match
            # No digit kind starts at a digit that follows a digit (their
            # lookbehinds forbid it), so the rest of this run is skipped.
            run = runs.match(text, p)
            pos = run.end() if run is not None else p + 1
        return None

    return find


@functools.lru_cache(maxsize=128)
def _finders(kinds: frozenset[str]) -> tuple[Finder, ...]:
    finders: list[Finder] = []
    if "email" in kinds:
        finders.append(_find_email)
    if "iban" in kinds:
        finders.append(_find_iban)
    if "ipv6" in kinds:
        finders.append(_find_ipv6)
    digits = tuple(kind for kind in KINDS if kind in kinds and kind in _DIGIT_KINDS)
    if digits:
        finders.append(_digit_finder(digits))
    return tuple(finders)


def scan(text: str, kinds: frozenset[str], pos: int = 0) -> Iterator[re.Match[str]]:
    """The matches of ``reference_regex(kinds).finditer(text, pos)``, found faster.

    ``finditer`` over an alternation yields, from each position on, the
    leftmost match, the earliest kind in :data:`KINDS` winning a tie. This
    keeps each finder's next match and takes the leftmost of them the same way;
    a finder whose next match overlaps the one just taken searches again after it.
    """
    # Each finder with its next match; a finder that has none is done for good.
    ahead = [(m, find) for find in _finders(kinds) if (m := find(text, pos)) is not None]
    while len(ahead) > 1:
        match, _ = min(ahead, key=_leftmost)
        yield match
        pos = match.end()
        still = []
        for m, find in ahead:
            if m.start() < pos:  # overlapped by the match just taken: search on after it
                found = find(text, pos)
                if found is None:
                    continue
                m = found
            still.append((m, find))
        ahead = still
    if ahead:  # one finder left: nothing to merge
        last: re.Match[str] | None
        last, find = ahead[0]
        while last is not None:
            yield last
            last = find(text, last.end())


def _leftmost(entry: tuple[re.Match[str], Finder]) -> tuple[int, int]:
    # The earliest start wins; at the same start, the kind listed first in KINDS.
    match = entry[0]
    return match.start(), _ORDER[match.lastgroup or ""]


# Each ASCII digit as the digit sum of its double, for the Luhn check.
_DOUBLED = str.maketrans("0123456789", "0246813579")


def luhn_ok(digits: str) -> bool:
    """Whether ``digits`` passes the Luhn check (every payment card number does)."""
    if digits.isascii() and digits.isdigit():  # the usual case: C-level slicing, sums
        # Summing the bytes of ASCII digits sums the digits plus 48 ("0") each.
        doubled = digits[-2::-2].translate(_DOUBLED)
        total = sum(digits[-1::-2].encode()) + sum(doubled.encode()) - 48 * len(digits)
        return total % 10 == 0
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    """Whether ``iban`` (spaces allowed) has a valid ISO 13616 mod-97 checksum."""
    s = iban.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    rearranged = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _ipv6_ok(text: str) -> bool:
    # Short compressed forms ("a::b", "d::" in C++'s "std::vector") are far more
    # often code than addresses; addresses worth hiding have two groups or more.
    if len(text) < 6 or sum(1 for g in text.split(":") if g) < 2:
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _valid(kind: str, text: str) -> bool:
    if kind == "card":
        digits = text.replace(" ", "").replace("-", "")
        return 13 <= len(digits) <= 19 and luhn_ok(digits)
    if kind == "iban":
        return iban_ok(text)
    if kind == "ipv6":
        return _ipv6_ok(text)
    if kind == "phone":
        return sum(c.isdigit() for c in text) >= 7
    return True


def find_pii(text: str, kinds: frozenset[str] = frozenset(KINDS)) -> Iterator[tuple[str, int, int]]:
    """``(kind, start, end)`` of every piece of personal data in ``text``, left to right."""
    kinds = _plausible(text, kinds)
    if not kinds:
        return
    # A card (or IBAN) candidate is a whole digit run, and the number in it may
    # take only part of it, or none; what the number leaves of the run may begin
    # something that runs on past it ("4111 1111 1111 1111 42 10.0.0.1",
    # "001-01-0001 42 10::10"). So the scan starts again where the number ends,
    # or, when the run holds none, at the run without that kind until its end.
    pos, without, until = 0, "", 0  # from where; the kind left out, and until where
    while True:
        active = kinds - {without} if without else kinds
        last = pos  # how far the matches handled in this pass reach
        for match in scan(text, active, pos):
            kind = match.lastgroup
            assert kind is not None
            start, end = match.span()
            if without and start >= until:
                pos, without = max(last, until), ""  # past the run: every kind again
                break
            ipv6_colon = kind == "ipv6" and text.endswith(":", start, end)
            if ipv6_colon and not _valid(kind, text[start:end]):
                end -= 1  # "at ::1:10: it" - the last colon is punctuation
            if kind in ("card", "iban"):
                # A long digit run may hold a card, or only an SSN or a phone number
                # next to other digits: the checksummed run is the number.
                found = _checksummed_run(kind, text, start, end)
                if found is None:
                    if not without:
                        pos, without, until = start, kind, end  # the run, for the others
                        break
                    yield from _within(text, start, end, active - {kind})  # one in another
                    last = end
                    continue
                if found[0] > start:
                    yield from _within(text, start, found[0], active)
                yield kind, *found
                if found[1] < end:
                    pos = found[1]  # what the number leaves of the run
                    break
            elif _valid(kind, text[start:end]):
                yield kind, start, end
            last = end
        else:
            if not without:
                return
            pos, without = max(last, until), ""


_DIGIT = re.compile(r"\d")
_DIGIT_ASCII = re.compile(r"[0-9]")
_NEEDS_DIGITS = frozenset(("card", "iban", "ssn", "ipv4", "phone"))


def _plausible(text: str, kinds: frozenset[str]) -> frozenset[str]:
    """The kinds that could occur in ``text`` at all: cheap C-level checks that let
    most prose skip most of the scan (an email needs "@", an IPv6 ":", the
    rest digits)."""
    digit = (_DIGIT_ASCII if text.isascii() else _DIGIT).search(text) is not None
    return _narrowed(kinds, "@" in text, ":" in text, digit)


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
    text: str, start: int, end: int, kinds: frozenset[str]
) -> Iterator[tuple[str, int, int]]:
    if end - start < 6:  # too short for any kind (the shortest, an email like a@b.co, has 6)
        return
    for kind, s, e in find_pii(text[start:end], kinds):
        yield kind, start + s, start + e


def _checksummed_run(kind: str, text: str, start: int, end: int) -> tuple[int, int] | None:
    """The longest run of whole groups in ``text[start:end]`` that passes the checksum.

    The pattern is greedy, so "order 42 4111 1111 1111 1111 42" is one candidate;
    trying sub-runs that start and end at group boundaries finds the card inside.
    """
    if _valid(kind, text[start:end]):
        return start, end  # the usual case: the candidate is the number
    seps = [i for i in range(start, end) if text[i] in " -"]
    starts = [start, *(i + 1 for i in seps)]
    ends = [*seps, end]
    runs = sorted(
        ((s, e) for s in starts for e in ends if e > s), key=lambda r: (r[0] - r[1], r[0])
    )
    for s, e in runs:
        if _valid(kind, text[s:e]):
            return s, e
    return None
