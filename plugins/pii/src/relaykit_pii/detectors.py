"""Recognise personal data: a regular expression finds candidates, a checksum confirms them.

Card numbers must pass the Luhn check and IBANs the ISO 13616 mod-97 check,
so order numbers and other long digit runs are not masked; IPv6 candidates
must parse as addresses.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterator

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
def _regex(kinds: frozenset[str]) -> re.Pattern[str]:
    """One alternation of the patterns of ``kinds``, most specific first (:data:`KINDS` order)."""
    return re.compile("|".join(f"(?P<{kind}>{_PATTERNS[kind]})" for kind in KINDS if kind in kinds))


def luhn_ok(digits: str) -> bool:
    """Whether ``digits`` passes the Luhn check (every payment card number does)."""
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
    for match in _regex(kinds).finditer(text):
        kind = match.lastgroup
        assert kind is not None
        start, end = match.span()
        if kind == "ipv6" and text.endswith(":", start, end) and not _valid(kind, text[start:end]):
            end -= 1  # "at ::1:10: it" - the last colon is punctuation
        if kind in ("card", "iban"):
            # A long digit run may hold a card, or only an SSN or a phone number
            # next to other digits: what is not the checksummed run is scanned again.
            found = _checksummed_run(kind, text, start, end)
            rest = kinds - {kind}
            if found is None:
                yield from _within(text, start, end, rest)
                continue
            yield from _within(text, start, found[0], rest)
            yield kind, *found
            yield from _within(text, found[1], end, rest)
        elif _valid(kind, text[start:end]):
            yield kind, start, end


_DIGIT = re.compile(r"\d")
_NEEDS_DIGITS = frozenset(("card", "iban", "ssn", "ipv4", "phone"))


def _plausible(text: str, kinds: frozenset[str]) -> frozenset[str]:
    """The kinds that could occur in ``text`` at all: cheap C-level checks that let
    most prose skip most of the alternation (an email needs "@", an IPv6 ":", the
    rest digits)."""
    if "@" not in text:
        kinds = kinds - {"email"}
    if ":" not in text:
        kinds = kinds - {"ipv6"}
    if _DIGIT.search(text) is None:
        kinds = kinds - _NEEDS_DIGITS
    return kinds


def _within(
    text: str, start: int, end: int, kinds: frozenset[str]
) -> Iterator[tuple[str, int, int]]:
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
