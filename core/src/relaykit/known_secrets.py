"""The secrets one client holds, masked wherever they show, whatever their shape.

:func:`relaykit.secrets.scrub` recognises credentials by shape (``sk-...``,
``AIza...``) or by label (``api_key=...``). An OpenAI-compatible server (vLLM,
a gateway) may take a key of any shape and quote it back in an error body,
from where it would reach the error, log lines, stored records and spans.
The client knows its keys (each provider's resolved ``api_key``, the vault's
keys, configured header values, the credentials in a ``base_url``, the
variables a provider type names in ``secret_envs``), so it masks those
literally, first in its redaction chain and in every error it raises. A
provider adds the credentials it finds or mints itself (an Entra ID token, a
Google access token) through ``ProviderSettings.known_secrets``, and drops a
minted one once it is long out of use.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from urllib.parse import parse_qsl, unquote, urlsplit

from .secrets import MASK, PLAIN_HEADERS, Secret, scrub
from .transport_errors import mask_chain

__all__ = ["MIN_LENGTH", "KnownSecrets"]

#: shorter values are not masked: "EMPTY" (vLLM's placeholder key) or "1" would
#: mask ordinary words and numbers everywhere, and are no credential worth hiding
MIN_LENGTH = 8

_SCHEMES = ("bearer ", "basic ", "token ")


class KnownSecrets:
    """Literal secrets to mask, and a :class:`~relaykit.protocols.Redactor` that masks them.

    The set changes seldom (it grows as providers are built and the vault is
    read; a minted token comes and goes within the hour), so the replacement
    pattern is compiled when a value is added, never per text.

    Its result depends on the text and on the values held, which change only
    through :meth:`add` and :meth:`discard`, and those tell whoever asked
    (:meth:`on_change`): so it is ``pure`` between changes, and the client's
    chain remembers what it made of a text with the other pure redactors',
    forgetting all of it when the values change. A chat's resent history is
    then not scanned for each value on every turn.
    """

    name = "known-secrets"
    pure = True

    def __init__(self) -> None:
        self._values: tuple[str, ...] = ()
        self._pattern: re.Pattern[str] | None = None
        self._listeners: list[Callable[[], None]] = []
        #: counts the changes of the values held (a result got at one count is
        #: stale at another)
        self.version = 0

    def __repr__(self) -> str:
        return f"KnownSecrets({len(self._values)} values)"

    def add(self, value: Secret | str | None) -> None:
        """Mask ``value`` from now on (``None``, and values under 8 characters, are ignored)."""
        text = value.reveal() if isinstance(value, Secret) else value
        if not text or len(text) < MIN_LENGTH or text in self._values:
            return
        # Longest first: a key that contains another is masked whole.
        self._values = tuple(sorted((*self._values, text), key=len, reverse=True))
        self._pattern = re.compile("|".join(map(re.escape, self._values)))
        self._changed()

    def discard(self, value: Secret | str | None) -> None:
        """Stop masking ``value`` (a minted token long replaced: the set stays small)."""
        text = value.reveal() if isinstance(value, Secret) else value
        if not text or text not in self._values:
            return
        self._values = tuple(v for v in self._values if v != text)
        self._pattern = re.compile("|".join(map(re.escape, self._values))) if self._values else None
        self._changed()

    def on_change(self, forget: Callable[[], None]) -> None:
        """Call ``forget()`` whenever the values held change, after they have: whoever
        remembers what :meth:`redact` made of a text forgets it then."""
        self._listeners.append(forget)

    def _changed(self) -> None:
        # The new values are in place first: a text redacted from now on is masked
        # with them; one redacted before is forgotten here.
        self.version += 1
        for forget in self._listeners:
            forget()

    def add_header(self, name: str, value: str) -> None:
        """Mask a configured header's value, and the token of an ``Authorization``-style one."""
        if name.lower() in PLAIN_HEADERS:
            return
        self.add(value)
        lowered = value.lower()
        for scheme in _SCHEMES:
            if lowered.startswith(scheme):
                self.add(value[len(scheme) :].strip())  # servers often quote the token alone

    def add_url(self, url: str | None) -> None:
        """Mask the credentials a configured URL holds: the password of its
        ``user:password@`` (or a user name with no password: a token, as
        ``https://TOKEN@host`` sends one) and each query value under a credential's
        name (``?key=``, ``&api_key=``, ``&access_token=``: the names
        :func:`~relaykit.secrets.scrub` knows). A server may quote one back alone,
        away from the URL that labels it. The ``user:password`` pair's base64, what
        a proxy's ``Proxy-Authorization: Basic`` and a base URL's ``Authorization:
        Basic`` carry, is masked too: it decodes to the password."""
        if not url:
            return
        try:
            parts = urlsplit(url)
            user, password = parts.username, parts.password
        except ValueError:  # a malformed URL: the provider's own check says so
            return
        if password:
            self.add(unquote(password))
        elif user:
            self.add(unquote(user))
        if user is not None:
            pair = f"{unquote(user)}:{unquote(password or '')}".encode()
            self.add(base64.b64encode(pair).decode("ascii"))
        for name, value in parse_qsl(parts.query):
            labelled = f"?{name}={value}"
            if scrub(labelled) != labelled:
                self.add(value)

    def redact(self, text: str) -> str:
        """``text`` with every known secret replaced by ``[REDACTED]``."""
        # Finding one with ``in`` (a C scan per value) is several times faster than
        # searching with the alternation for the few values a client holds; the
        # pattern replaces them all in one pass once one is there.
        for value in self._values:
            if value in text:
                assert self._pattern is not None
                return self._pattern.sub(MASK, text)
        return text

    def mask(self, value: str | None) -> str | None:
        """``value`` with every known secret and every credential :func:`~relaykit.secrets.scrub`
        recognises masked (``None`` stays ``None``).

        For what a caller names a call by (a ``correlation_id``, a ``conversation_id``,
        the metadata a log line shows): not content, so no other redactor touches it,
        yet a caller may well send a key there (a gateway copies request headers in).
        """
        if value is None:
            return None
        return scrub(self.redact(value))

    def mask_error(self, error: BaseException) -> None:
        """Mask the known secrets in ``error`` and in every exception it chains, in place."""
        if self._values:
            mask_chain(error, self.redact)
