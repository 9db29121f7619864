"""The redactors: masks for what is stored, reversible placeholders for what is sent."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from .detectors import KINDS, spans

_PLACEHOLDER = re.compile(r"<([A-Z0-9]+)_([a-z]{8})>")
# What the start of a placeholder looks like when a stream cuts it short.
_PARTIAL = re.compile(r"<(?:[A-Z0-9]{1,5}(?:_[a-z]{0,8})?)?$")
# A placeholder's letters: byte b as the letter 97 + b % 26.
_LETTERS = bytes(97 + b % 26 for b in range(256))
_TAGS = {
    "email": "EMAIL",
    "card": "CARD",
    "iban": "IBAN",
    "ssn": "SSN",
    "ipv4": "IP",
    "ipv6": "IP",
    "phone": "PHONE",
}


_MASKS = {kind: f"[{tag}]" for kind, tag in _TAGS.items()}


class PiiRedactor:
    """Replaces personal data with ``[EMAIL]``, ``[PHONE]``, ``[CARD]``, ``[SSN]``, ``[IBAN]``,
    ``[IP]``."""

    name = "pii"
    #: its result depends on the text (and ``kinds``, fixed when it is made) alone,
    #: so a client's redaction chain may reuse it for a text it has seen before
    pure = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # ``pure`` is not inherited: a subclass may keep state (count, log, map
        # what it replaced), and a chain reusing its results would skip that.
        # One that keeps none says ``pure = True`` itself.
        super().__init_subclass__(**kwargs)
        if "pure" not in cls.__dict__:
            cls.pure = False

    def __init__(self, kinds: Iterable[str] = KINDS) -> None:
        self.kinds = frozenset(kinds)

    def _replace(self, text: str, label: str, kind: str) -> str:
        return _MASKS[kind]

    def redact(self, text: str) -> str:
        """``text`` with every piece of personal data masked."""
        found = spans(text, self.kinds)
        if not found:
            return text
        out: list[str] = []
        last = 0
        if type(self)._replace is PiiRedactor._replace:
            # The masks alone (no subclass reads the values): no method call and
            # no copy of each value (~0.5 us a text).
            for kind, start, end in found:
                out += (text[last:start], _MASKS[kind])
                last = end
            out.append(text[last:])
            return "".join(out)
        for kind, start, end in found:
            out += (text[last:start], self._replace(text[start:end], _TAGS[kind], kind))
            last = end
        out.append(text[last:])
        return "".join(out)


class ReversiblePiiRedactor(PiiRedactor):
    """Replaces personal data with placeholders like ``<EMAIL_qhdkzmxa>`` and restores them.

    A placeholder is a keyed hash of the value (the key is random per process),
    so the same value always gets the same placeholder, concurrent calls need no
    shared session, and a placeholder reveals nothing about a low-entropy value
    like a phone number. The originals are kept in memory, at most
    ``max_values`` of them (least recently used go first).

    Not ``pure``: each ``redact`` also records the values it replaced, for
    ``restore``, so it runs on every text.
    """

    pure = False

    def __init__(
        self, kinds: Iterable[str] = KINDS, *, max_values: int = 100_000, key: bytes | None = None
    ) -> None:
        super().__init__(kinds)
        key = key if key is not None else os.urandom(32)
        # One keyed HMAC-SHA256 state made here and copied per value: hmac.new
        # per value spent half its time deriving the same keyed state again.
        self._mac = hmac.new(key, digestmod=hashlib.sha256)
        self._max = max_values
        self._values: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()  # the SyncClient and worker threads may share a redactor

    def _replace(self, text: str, label: str, kind: str) -> str:
        mac = self._mac.copy()
        mac.update(f"{label}\0{text}".encode())
        placeholder = f"<{label}_{mac.digest()[:8].translate(_LETTERS).decode()}>"
        with self._lock:
            self._values[placeholder] = text
            self._values.move_to_end(placeholder)
            while len(self._values) > self._max:
                self._values.popitem(last=False)
        return placeholder

    def restore(self, text: str) -> str:
        """``text`` with every placeholder this redactor made turned back into its value."""
        if "<" not in text:
            return text
        with self._lock:
            values = self._values
            return _PLACEHOLDER.sub(lambda m: values.get(m.group(), m.group()), text)

    def holdback(self, text: str) -> int:
        """How many trailing characters of ``text`` may be a placeholder cut short."""
        match = _PARTIAL.search(text, max(0, len(text) - 16))
        return len(text) - match.start() if match else 0
