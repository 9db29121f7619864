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

from .detectors import KINDS, TAGS, spans

_PLACEHOLDER = re.compile(r"<([A-Z0-9]+)_([a-z]{8})>")
# What the start of a placeholder looks like when a stream cuts it short.
_PARTIAL = re.compile(r"<(?:[A-Z0-9]{1,5}(?:_[a-z]{0,8})?)?$")
# A placeholder as a model may echo it: case changed, a space inside the brackets,
# or the brackets JSON-escaped (\u003c, \u003e: Go's encoding/json writes them so,
# as in Ollama's tool-call arguments).
_LOOSE = re.compile(r"(?:<|\\u003[cC]) ?([A-Za-z0-9]{2,5})_([A-Za-z]{8}) ?(?:>|\\u003[eE])")
# (an escaped bracket cut short too: "\\", "\\u00" ...)
_LOOSE_PARTIAL = re.compile(
    r"(?:<|\\u003[cC]) ?(?:[A-Za-z0-9]{1,5}(?:_[A-Za-z]{0,8} ?"
    r"(?:\\(?:u(?:0(?:0(?:3[eE]?)?)?)?)?)?)?)?$"
    r"|\\(?:u(?:0(?:0(?:3[cC]?)?)?)?)?$"
)
# A placeholder in a participant name: no brackets (OpenAI takes a name of
# ^[a-zA-Z0-9_-]+$ only), so it may stand right after a name's letters: its
# tag is one of ours (no tag ends another one).
_BARE = re.compile(r"(?:EMAIL|CARD|IBAN|SSN|IP|PHONE|TEXT)_[a-z]{8}")
_BARE_PARTIAL = re.compile(r"[A-Z]{1,5}(?:_[a-z]{0,7})?$")
# A placeholder's letters: byte b as the letter 97 + b % 26.
_LETTERS = bytes(97 + b % 26 for b in range(256))
#: the label of a placeholder that stands for text that looked like a placeholder,
#: or for a whole participant name (see NAME_LIMIT)
_TEXT = "TEXT"
#: The longest participant name a vendor takes (OpenAI's 64 characters, the
#: strictest). A name's placeholders may be longer than the values they stand
#: for (``PHONE_qhdkzmxa`` for ``415-555-0100``): a name that fit, and would not
#: with them, is sent as one placeholder for the whole name instead.
NAME_LIMIT = 64


_MASKS = {kind: f"[{tag}]" for kind, tag in TAGS.items()}


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
            out += (text[last:start], self._replace(text[start:end], TAGS[kind], kind))
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

    def _letters(self, label: str, text: str, salt: str = "") -> str:
        mac = self._mac.copy()
        mac.update(f"{label}\0{text}{salt}".encode())
        return mac.digest()[:8].translate(_LETTERS).decode()

    def _replace(self, text: str, label: str, kind: str) -> str:
        placeholder = f"<{label}_{self._letters(label, text)}>"
        with self._lock:
            self._values[placeholder] = text
            self._values.move_to_end(placeholder)
            while len(self._values) > self._max:
                self._values.popitem(last=False)
        return placeholder

    def redact_name(self, text: str) -> str:
        """A participant name with this redactor's placeholders, without their brackets
        (``CARD_qhdkzmxa``): OpenAI refuses a name with ``<`` or ``>`` in it.
        :meth:`restore` (without a session) does not restore these; a model
        seldom writes a participant's name back."""
        found = spans(text, self.kinds)
        if not found:
            return text
        out: list[str] = []
        last = 0
        # with a "<" in the name (refused there anyway), brackets kept: restore reads
        # "<" + a bare placeholder + ">" as the bracketed one
        cut = slice(None) if "<" in text else slice(1, -1)
        for kind, start, end in found:
            placeholder = self._replace(text[start:end], TAGS[kind], kind)
            out += (text[last:start], placeholder[cut])
            last = end
        out.append(text[last:])
        name = "".join(out)
        if len(name) > NAME_LIMIT >= len(text):
            return self._replace(text, _TEXT, "")[cut]
        return name

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

    def session(self) -> PiiSession:
        """Placeholders for one call: its answer gets back only the values its prompt had."""
        return PiiSession(self)


class PiiSession:
    """One call's placeholders (see :meth:`ReversiblePiiRedactor.session`).

    The redactor's placeholders are a keyed hash of each value, the same in every
    call of a process, and stored records carry them. Restoring from the
    redactor's map of every value it ever replaced would hand a call the value of
    a placeholder it never sent: one a model made up or remembered, one a user
    copied from a log, or another value whose placeholder collides (8 letters,
    ~37 bits: likely among a few hundred thousand values). A session restores
    only the placeholders its own prompt carried, and its own values for them.

    Text that already looks like a placeholder is swapped for one of its own
    (``<TEXT_...>``), so that the caller gets it back as typed. A name's
    placeholders have no brackets (see :meth:`redact_name`). Restoring takes a
    placeholder as a model may mangle it too: its case changed, a space inside
    its brackets. One call's session may be used from the threads of a
    ``SyncClient``; it is small, made per call, and never shared between calls.
    """

    __slots__ = ("_bare", "_lock", "_redactor", "_values")

    def __init__(self, redactor: ReversiblePiiRedactor) -> None:
        self._redactor = redactor
        #: placeholder -> value, for this call's placeholders
        self._values: dict[str, str] = {}
        #: bare placeholder (a name's) -> value
        self._bare: dict[str, str] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<PII session: {len(self._values) + len(self._bare)} values>"

    def _placeholder(self, value: str, label: str, issued: dict[str, str], bare: bool) -> str:
        letters = self._redactor._letters(label, value)
        salt = 0
        with self._lock:
            while True:
                placeholder = f"{label}_{letters}" if bare else f"<{label}_{letters}>"
                # Two values of one call whose placeholders collide: the second
                # gets another (chance ~2**-37 a pair, but a wrong value is a leak).
                if issued.setdefault(placeholder, value) == value:
                    return placeholder
                salt += 1
                letters = self._redactor._letters(label, value, f"\0{salt}")

    def _redact(self, text: str, bare: bool) -> str:
        redactor = self._redactor
        found: list[tuple[str, int, int]] = spans(text, redactor.kinds)
        # what restore takes for a placeholder, and so must not be left as typed
        looks = _BARE if bare else _LOOSE
        if "_" in text and (lookalikes := list(looks.finditer(text))):
            # Those that overlap no value, in one walk of both (each is in order).
            values, i = found, 0
            found = []
            for m in lookalikes:
                while i < len(values) and values[i][2] <= m.start():
                    found.append(values[i])
                    i += 1
                if i == len(values) or values[i][1] >= m.end():
                    found.append(("", m.start(), m.end()))
            found += values[i:]
        if not found:
            return text
        issued = self._bare if bare else self._values
        out: list[str] = []
        last = 0
        for kind, start, end in found:
            label = TAGS[kind] if kind else _TEXT
            out += (text[last:start], self._placeholder(text[start:end], label, issued, bare))
            last = end
        out.append(text[last:])
        return "".join(out)

    def redact(self, text: str) -> str:
        """``text`` with each value's placeholder, each one remembered for this call."""
        return self._redact(text, bare=False)

    def redact_name(self, text: str) -> str:
        """A participant name with placeholders a vendor takes in a name: no brackets
        (``EMAIL_qhdkzmxa``; OpenAI refuses a name outside ``^[a-zA-Z0-9_-]+$``).

        A name with a ``<`` in it (refused there anyway) keeps the brackets: a bare
        placeholder between ``<`` and ``>`` would come back as the value alone,
        brackets lost. A name of at most :data:`NAME_LIMIT` characters that its
        placeholders would make longer is one placeholder (``TEXT_...``) instead."""
        bare = "<" not in text
        name = self._redact(text, bare)
        if len(name) > NAME_LIMIT >= len(text):
            issued = self._bare if bare else self._values
            return self._placeholder(text, _TEXT, issued, bare)
        return name

    def restore(self, text: str) -> str:
        """``text`` with this call's placeholders turned back into its values."""
        values = self._values
        if values and ("<" in text or "\\u003" in text):
            text = _LOOSE.sub(lambda m: values.get(f"<{m[1].upper()}_{m[2].lower()}>", m[0]), text)
        bare = self._bare
        if bare and "_" in text:
            text = _BARE.sub(lambda m: bare.get(m[0], m[0]), text)
        return text

    def holdback(self, text: str) -> int:
        """How many trailing characters of ``text`` may be a placeholder cut short."""
        start = len(text)
        if self._values:
            match = _LOOSE_PARTIAL.search(text, max(0, len(text) - 27))
            if match:
                start = match.start()
        if self._bare:
            match = _BARE_PARTIAL.search(text, max(0, len(text) - 15))
            if match:
                start = min(start, match.start())
        return len(text) - start
