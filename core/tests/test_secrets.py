"""The built-in secret redactor: every known credential shape is masked, idempotently."""

from __future__ import annotations

import base64

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from relaykit.secrets import MASK, Secret, scrub

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def chars(alphabet: str, n: int, m: int | None = None) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=n, max_size=m or n)


fernet_keys = st.binary(min_size=32, max_size=32).map(
    lambda b: base64.urlsafe_b64encode(b).decode()
)
jwts = st.tuples(chars(B64URL, 8, 40), chars(B64URL, 8, 80), chars(B64URL, 8, 43)).map(
    lambda p: f"eyJ{p[0]}.eyJ{p[1]}.{p[2]}"
)
SECRETS = {
    "openai": st.tuples(
        st.sampled_from(["sk-", "sk-proj-", "sk-svcacct-", "sk-admin-"]), chars(B64URL, 20, 80)
    ).map("".join),
    "anthropic": chars(B64URL, 20, 95).map(lambda s: f"sk-ant-api03-{s}"),
    "google-api-key": chars(B64URL, 35).map(lambda s: f"AIza{s}"),
    "google-oauth": chars(B64URL, 20, 120).map(lambda s: f"ya29.{s}"),
    "aws-access-key-id": st.tuples(st.sampled_from(["AKIA", "ASIA"]), chars(UPPER, 16)).map(
        "".join
    ),
    "jwt": jwts,
    "bedrock-api-key": chars(ALNUM + "+/", 40, 120).map(lambda s: f"ABSK{s}"),
    "fernet-master-key": fernet_keys,
}
# Secrets recognised by their label rather than their shape.
LABELLED = {
    "aws-secret": (
        st.sampled_from(
            ["AWS_SECRET_ACCESS_KEY=", "aws_secret_access_key = ", '"SecretAccessKey": "']
        ),
        chars(ALNUM + "/+", 40),
    ),
    "bearer": (
        st.sampled_from(["Authorization: Bearer ", "bearer "]),
        chars(ALNUM + "._-", 16, 200),
    ),
    "api-key-header": (
        st.sampled_from(["x-api-key: ", "x-goog-api-key: ", "?api_key="]),
        chars(ALNUM, 16, 60),
    ),
    # Google's ?key= in a URL, whatever the key looks like
    "url-query-key": (
        st.sampled_from(["https://g.example/v1beta/models?key=", "/x?alt=sse&key=", "?KEY="]),
        chars(ALNUM + "-_.~%", 8, 60),
    ),
}
SEPARATORS = st.sampled_from([" ", "\n", '"', "'", ", ", ": ", "(", ")", "\t"])
prose = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


@pytest.mark.parametrize("kind", sorted(SECRETS))
@given(data=st.data())
def test_no_generated_secret_survives(kind: str, data: st.DataObject) -> None:
    secret = data.draw(SECRETS[kind])
    before, after = data.draw(prose), data.draw(prose)
    assume(secret not in before + after)
    text = before + data.draw(SEPARATORS) + secret + data.draw(SEPARATORS) + after
    out = scrub(text)
    assert secret not in out
    assert MASK in out
    assert scrub(out) == out


@pytest.mark.parametrize("kind", sorted(LABELLED))
@given(data=st.data())
def test_no_labelled_secret_survives(kind: str, data: st.DataObject) -> None:
    label, values = LABELLED[kind]
    prefix, secret, before = data.draw(label), data.draw(values), data.draw(prose)
    assume(secret not in before)
    out = scrub(before + " " + prefix + secret + data.draw(SEPARATORS))
    assert secret not in out
    assert prefix.strip() in out  # the label stays, so the log still says what was masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # hypothesis found these: the bearer/basic patterns took the label as the token
        ("BEARER x-api-key: 0000000000000000 ", "BEARER x-api-key: [REDACTED] "),
        ("bearer api_key=abcdefgh12345678", "bearer api_key=[REDACTED]"),
        ("Basic password: hunter2hunter2", "Basic password: [REDACTED]"),
        (
            "BEARER Authorization: Bearer abcdefgh12345678",
            "BEARER Authorization: Bearer [REDACTED]",
        ),
    ],
)
def test_a_label_after_bearer_or_basic_is_still_a_label(text: str, masked: str) -> None:
    assert scrub(text) == masked


@given(prose)
def test_scrubbing_is_idempotent(text: str) -> None:
    once = scrub(text)
    assert scrub(once) == once


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens=1000 and temperature: 0.7",
        "The quick brown fox jumps over the lazy dog.",
        "see https://example.com/path?q=1",
        "skip-this-is-not-a-key",
        "an ordinary base64 blob: aGVsbG8gd29ybGQ=",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert scrub(text) == text


def test_url_credentials_are_masked() -> None:
    assert scrub("redis://admin:hunter2@127.0.0.1:6379/0") == "redis://[REDACTED]@127.0.0.1:6379/0"


def test_a_token_as_a_urls_user_name_is_masked_and_a_short_name_is_not() -> None:
    # https://TOKEN@host: a token sent as the user name, with no password
    token = "tok0123456789abcdef"
    assert scrub(f"https://{token}@api.example.com/v1") == "https://[REDACTED]@api.example.com/v1"
    assert scrub("ssh://git@github.com/org/repo") == "ssh://git@github.com/org/repo"
    assert scrub("see https://example.com/?mail=a@b.c") == "see https://example.com/?mail=a@b.c"


def test_errors_never_carry_a_key() -> None:
    import relaykit

    key = "sk-ant-api03-" + "x" * 40
    err = relaykit.AuthenticationError(f"bad key {key}", provider_message=f"got {key}")
    assert key not in str(err)
    assert key not in repr(err)
    assert key not in (err.provider_message or "")


# What every pattern starts with or needs: the scan looks for these.
ANCHORS = (
    "sk-", "sk-ant-", "AIza", "ya29.", "GOCSPX-", "1//0", "A3T", "AKIA", "ASIA", "ABIA", "ACCA",
    "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA", "ABSK", "gsk_", "xai-", "hf_", "ghp_",
    "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "eyJ", "=", "://", "Bearer ", "BASIC ",
    "?key=", "&KEY=", "api_key", "X-Api-Key", "x-goog-api-key", "client_secret", "Password",
    "passwd", "aws_session_token", "AWSSecretAccessKey", "relaykit_master_key", "refresh_token",
)  # fmt: skip
# Characters that (?i:...) takes for a letter although they are not A-Z (İ ı for
# "i", ſ for "s", the Kelvin sign for "k"), in words the patterns need.
FOLDED = ("\u017fecret", "pa\u017f\u017fword", "ba\u017f\u0130c", "\u212aEY", "ba\u0131ic")

# Pieces of every pattern's anatomy (prefixes, labels, separators, bodies), so
# that generated text often comes close to a credential or is one.
_PIECES = st.one_of(
    *SECRETS.values(),
    *(st.tuples(label, body).map("".join) for label, body in LABELLED.values()),
    st.sampled_from(
        ["sk-", "AIza", "eyJ", "=", "Bearer ", "BASIC ", "Token", "PASSWORD=", "://u:p@h", "KEY:"]
    ),
    st.sampled_from(ANCHORS),
    st.sampled_from(FOLDED),
    st.sampled_from([": ", "=", "='", '": "', " \t= ", "\u0130"]),
    chars(B64URL + " =:/@.", 0, 50),
    prose,
)


@given(st.lists(_PIECES, max_size=8).map("".join))
def test_scrub_masks_what_the_alternation_would(text: str) -> None:
    # scrub() tries the alternation only where a cheap scan says a pattern may
    # start; the result must be the same as searching with it everywhere.
    from relaykit.secrets import _SECRET_RE, _mask

    assert scrub(text) == _SECRET_RE.sub(_mask, text)


@given(st.lists(_PIECES, max_size=8).map("".join))
def test_every_place_a_pattern_matches_is_a_start(text: str) -> None:
    # Stronger than the test above: a place the scan missed may be hidden there
    # by an earlier match that happens to cover it.
    from relaykit.secrets import _SECRET_RE, _starts

    starts = _starts(text)
    assert starts is not None
    matched = [i for i in range(len(text)) if _SECRET_RE.match(text, i)]
    assert set(matched) <= set(starts)


@pytest.mark.parametrize("few", [True, False], ids=["from-separators", "from-words"])
@given(text=st.lists(_PIECES, max_size=8).map("".join))
def test_labels_are_found_from_the_separators_and_from_the_words(few: bool, text: str) -> None:
    # The scan looks for labels from each ":" and "=" when they are few for a
    # long text and from the label words otherwise: either way every place the
    # alternation matches is a start (each way forced here, whatever the text).
    from unittest import mock

    from relaykit import secrets
    from relaykit.secrets import _SECRET_RE, _starts

    def places(text: str, colon: bool, equals: bool) -> list[int] | None:
        return [i for i, c in enumerate(text) if c in ":="] if few else None

    with mock.patch.object(secrets, "_separator_places", places):
        starts = _starts(text)
    assert starts is not None
    matched = [i for i in range(len(text)) if _SECRET_RE.match(text, i)]
    assert set(matched) <= set(starts)


def test_which_way_labels_are_looked_for() -> None:
    from relaykit.secrets import _separator_places

    def few(text: str) -> bool:
        return _separator_places(text, ":" in text, "=" in text) is not None

    prose = "Do not ask for passwords: say so politely, and offer to call a human agent today. " * 9
    assert few(prose)  # one ":" in 80 characters
    assert not few(prose[:200])  # short: the word scans cost less
    assert not few(prose.replace(",", ":"))
    assert not few("x = 1\nif a == b: c = d\n" * 50)  # code
    assert few("x" * 8000 + "=" * 60)  # counted in the first 4 KB only


@pytest.mark.parametrize(
    "text",
    [
        "Do not ask for passwords: say so politely, and offer to call a human agent today."
        " Prices = what the order page shows, never a guess of your own or a rounded one. " * 9,
        "a=b " + "x" * 5000 + ":" * 30 + "y" * 90 + "=",  # few in the first 4 KB, more after
        "x" * 300 + ":",
        "=" + "x" * 4095 + "=",  # one just inside the counted 4 KB, one just past it
    ],
    ids=["prose", "more-after-4kb", "one-at-the-end", "at-the-4kb-edge"],
)
def test_separator_places_are_every_separator_when_few(text: str) -> None:
    # The places counted are the ones walked from: every ":" and "=" of the
    # text, those past the counted 4 KB too, each once.
    from relaykit.secrets import _separator_places

    places = _separator_places(text, ":" in text, "=" in text)
    assert places is not None
    assert sorted(places) == [i for i, c in enumerate(text) if c in ":="]
    # a separator the caller says is absent is not looked for
    assert _separator_places(text, False, False) == []


@pytest.mark.parametrize("size", [256, 799, 800, 4095, 4096, 9000])
def test_few_separators_is_one_in_80_characters_at_most(size: int) -> None:
    # The separators are found one by one until there are too many (not
    # counted): the limit is exactly one per 80 characters of the first 4 KB,
    # ":" and "=" together, wherever they sit.
    from relaykit.secrets import _separator_places

    def few(text: str) -> bool:
        return _separator_places(text, ":" in text, "=" in text) is not None

    counted = min(size, 4096)
    allowed = counted // 80
    for colons in (0, allowed // 2, allowed):
        equals = allowed - colons
        seps = ":" * colons + "=" * equals
        for text in (seps + "x" * (size - len(seps)), "x" * (counted - len(seps)) + seps):
            text = text.ljust(size, "x")
            assert few(text)
            at = text.rfind("x", 0, counted)  # one more separator, among the counted
            extra = text[:at] + "=" + text[at + 1 :]
            assert not few(extra)


@pytest.mark.parametrize(
    "text",
    [
        "password \t\u2003 := hunter2hunter2",  # Unicode whitespace is \s too
        "PASSWORD'   =   'hunter2hunter2'",
        '{"api_key"  :  "abcdefgh12345678"}',
        "see /v1/models?alt=sse&Key=abcdefgh12345678 and ?key=xyz123456",
        "x" * 5000 + " client_secret: abcdefgh12345678 " + "y" * 5000,
        "a: b " * 400 + "access_token=abcdefgh12345678",  # separators too many: the word path
    ],
    ids=lambda t: repr(t[:16]),
)
def test_labels_with_quotes_and_whitespace_before_the_separator(text: str) -> None:
    from relaykit.secrets import _SECRET_RE, _mask

    out = scrub(text)
    assert out == _SECRET_RE.sub(_mask, text)
    assert "abcdefgh12345678" not in out


# One credential of each pattern's shape, in the patterns' order.
EXAMPLES = (
    "sk-ant-api03-" + "a" * 24,
    "sk-ant-" + "b" * 20,
    "sk-proj-" + "c" * 20,
    "AIza" + "d" * 35,
    "ya29." + "e" * 24,
    "GOCSPX-" + "f" * 24,
    "1//0" + "g" * 32,
    "A3TX" + "H" * 16,
    "ASIA" + "I" * 16,
    "ABSK" + "j" * 24,
    "gsk_" + "k" * 24,
    "xai-" + "l" * 24,
    "hf_" + "m" * 32,
    "ghr_" + "n" * 36,
    "github_pat_" + "o" * 40,
    "eyJ" + "p" * 8 + ".eyJ" + "q" * 8 + ".r",
    "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg=",
    "BEARER " + "s" * 12,
    "Basic " + "t" * 16,
    "smtp://user:pw@host",
    "AWS_Secret_Access_Key = '" + "u" * 20,
    "/v1?KEY=" + "w" * 10,
)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e[:8])
def test_each_shape_is_masked_wherever_it_sits(example: str) -> None:
    for before, after in [("", ""), ("a b c ", " d e f"), ("\u00e9t\u00e9 \u212a ", "\n")]:
        text = f"{before}{example}{after}"
        out = scrub(text)
        assert MASK in out
        assert out.startswith(before)
        assert out.endswith(after)


@pytest.mark.parametrize("before", ["AGP", "AKI", "ARO", "xA3"])
def test_a_key_right_after_the_start_of_another_prefix_is_masked(before: str) -> None:
    # Hypothesis found it: the scan for "A..." prefixes consumed "AGPA", so the
    # Google key starting at that last "A" was never tried, and went out as is.
    key = "AIza" + "SyD3x9QkLmN0pQrStUvWxYz0123456789ab"
    assert scrub(f"key {before}{key} end") == f"key {before}{MASK} end"


@pytest.mark.parametrize("anchor", ANCHORS + FOLDED)
def test_each_anchor_is_found_wherever_it_sits(anchor: str) -> None:
    # The literals are looked for in groups (by a character they share), the
    # words in lower-cased text: none may be left out, at the start, the end or
    # between other text, after non-ASCII text too.
    from relaykit.secrets import _SECRET_RE, _starts

    for before, after in [("", ""), ("a b c ", " d e f"), ("\u00e9t\u00e9 \u212a ", ": x")]:
        text = f"{before}{anchor}{after}"
        starts = _starts(text)
        assert starts is not None
        matched = {i for i in range(len(text)) if _SECRET_RE.match(text, i)}
        assert matched <= set(starts)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("client_\u017fecret=abcdefgh123", "client_\u017fecret=[REDACTED]"),
        ("PA\u017f\u017fWORD: hunter2hunter2", "PA\u017f\u017fWORD: [REDACTED]"),
        ("\u0130 x-api-\u212aey: 0123456789", "\u0130 x-api-\u212aey: [REDACTED]"),
        ("ba\u017fic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "ba\u017fic [REDACTED]"),
    ],
)
def test_letters_that_case_folding_equates_are_matched(text: str, masked: str) -> None:
    # (?i:...) takes ſ for "s" and the Kelvin sign for "k": so must the scan.
    assert scrub(text) == masked


def test_a_long_text_with_trigger_words_is_scrubbed_like_the_alternation() -> None:
    from relaykit.secrets import _SECRET_RE, _mask

    chat = (
        "User: which key and token go where? The secret is basic: pass the bearer "
        "header at 10:30, max_tokens=100, see https://example.com/a?b=c&key=v.\n"
    ) * 200
    text = f"{chat}api_key=abcdefgh12345678 {chat}Bearer abcdefgh12345678 {chat}"
    out = scrub(text)
    assert out == _SECRET_RE.sub(_mask, text)
    assert out.count(MASK) == 2


# Text whose only literal is "=" (code, logs, query strings) can hold no
# credential but a Fernet key, which ends in "=": scrub() looks 43 characters
# before each "=" that ends a Fernet key's shape.
FERNET = "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg="
CODE = "x = 1\nif a == b: c = d  # status=200\n"


@pytest.mark.parametrize(
    "text",
    [
        CODE * 500,
        FERNET,
        f"{FERNET} {FERNET}",
        f"{CODE * 50}{FERNET}\n{CODE * 50}",
        f"a{FERNET}",  # a longer base64 run is not a key
        f"{FERNET}=",
        f"{FERNET[:-1]}==",
        f"x={FERNET}&y=",
        "=" * 100,
        "A" * 43 + "=" + "B" * 42 + "==",
    ],
    ids=lambda t: repr(t[:12]),
)
def test_text_whose_only_literal_is_an_equals_sign(text: str) -> None:
    from relaykit.secrets import _SECRET_RE, _mask

    assert scrub(text) == _SECRET_RE.sub(_mask, text)


def test_a_fernet_key_after_much_code_is_masked() -> None:
    assert scrub(f"{CODE * 500}key {FERNET}!") == f"{CODE * 500}key [REDACTED]!"
    assert scrub(f"{CODE * 500}{FERNET}!") == f"{CODE * 500}[REDACTED]!"


@given(st.lists(st.one_of(fernet_keys, chars(B64URL + " =\n", 0, 60)), max_size=6).map("".join))
def test_equals_signs_and_base64_scrub_as_the_patterns_do(text: str) -> None:
    from relaykit.secrets import _SECRET_RE, _mask

    assert scrub(text) == _SECRET_RE.sub(_mask, text)


def test_known_secrets_mask_values_of_any_shape_longest_first() -> None:
    from relaykit.known_secrets import KnownSecrets

    known = KnownSecrets()
    text = "key local-key-1234567890 and local-key-1234567890-long; EMPTY; 2023-06-01"
    assert known.redact(text) is text  # nothing known: nothing to do
    known.add(Secret("local-key-1234567890"))
    known.add("local-key-1234567890-long")
    known.add("EMPTY")  # too short to be a credential: left alone
    known.add(None)
    known.add_header("anthropic-version", "2023-06-01")  # never a credential
    known.add_header("X-Gateway-Auth", "Bearer gw-token-abcdef")
    assert known.redact(text) == "key [REDACTED] and [REDACTED]; EMPTY; 2023-06-01"
    assert known.redact("token gw-token-abcdef") == "token [REDACTED]"  # quoted alone
    assert "local-key" not in repr(known)


def test_a_urls_password_and_credential_query_values_are_known_not_its_other_parts() -> None:
    from relaykit.known_secrets import KnownSecrets

    known = KnownSecrets()
    known.add_url(
        "https://bob:pass%2Fword-123@api.example.com/v1?api-version=2024-10-21&key=qk-0123456789"
    )
    known.add_url("http://[::1/v1")  # malformed: the provider says so, not this
    known.add_url(None)
    text = "bob pass/word-123 qk-0123456789 2024-10-21 api.example.com"
    assert known.redact(text) == "bob [REDACTED] [REDACTED] 2024-10-21 api.example.com"
    known.add_url("http://localhost:8000/v1?access_token=tok-abcdef12&deployment=my-model-1")
    assert known.redact("tok-abcdef12 my-model-1") == "[REDACTED] my-model-1"
    # a token as the user name alone (https://TOKEN@host, as some services take it)
    known.add_url("https://ghp-like-token-0123456789@git.example.com/v1")
    known.add_url("https://carol@example.com/v1")  # a name too short to be a credential
    assert known.redact("ghp-like-token-0123456789 carol") == "[REDACTED] carol"


def test_known_secrets_mask_is_the_floor_for_ids() -> None:
    from relaykit.known_secrets import KnownSecrets

    known = KnownSecrets()
    known.add("local-key-1234567890")
    assert known.mask(None) is None
    assert known.mask("req-42") == "req-42"
    assert known.mask("local-key-1234567890") == "[REDACTED]"
    assert known.mask("sk-proj-" + "Zr4" * 10) == "[REDACTED]"  # a known shape, never added


def test_a_discarded_secret_is_no_longer_masked_and_the_others_still_are() -> None:
    from relaykit.known_secrets import KnownSecrets

    known = KnownSecrets()
    known.add("minted-token-0001-abcdef")
    known.add("minted-token-0002-abcdef")
    known.discard(Secret("minted-token-0001-abcdef"))
    known.discard("never-added-1234567890")  # nothing to do
    known.discard(None)
    text = "old minted-token-0001-abcdef, new minted-token-0002-abcdef"
    assert known.redact(text) == "old minted-token-0001-abcdef, new [REDACTED]"
    known.discard("minted-token-0002-abcdef")
    assert known.redact(text) is text  # none left: nothing to do
    assert repr(known) == "KnownSecrets(0 values)"


def test_known_secrets_mask_an_error_and_its_chain() -> None:
    from relaykit.errors import AuthenticationError
    from relaykit.known_secrets import KnownSecrets

    known = KnownSecrets()
    known.add("local-key-1234567890")
    error = AuthenticationError(
        "bad key local-key-1234567890", provider_message="local-key-1234567890"
    )
    error.__cause__ = OSError("sent local-key-1234567890")
    known.mask_error(error)
    assert "local-key" not in str(error) + repr(error)
    assert error.message == "bad key [REDACTED]"
    assert error.args == ("bad key [REDACTED]",)
    assert error.provider_message == "[REDACTED]"
    assert str(error.__cause__) == "sent [REDACTED]"


def test_a_transport_failure_is_typed_and_keeps_no_key_in_its_chain() -> None:
    import traceback

    import httpx
    import pytest

    from relaykit.errors import ProviderUnavailableError
    from relaykit.known_secrets import KnownSecrets
    from relaykit.routing import Target
    from relaykit.transport_errors import typed_and_masked

    class Refused(httpx.ConnectError):  # its str is not its first argument, as aiohttp's
        def __str__(self) -> str:
            return "cannot connect to https://h/?key=local-key-1234567890"

    known = KnownSecrets()
    known.add("local-key-1234567890")
    with (
        pytest.raises(ProviderUnavailableError) as caught,
        typed_and_masked(Target("p", "m"), known),
    ):
        raise Refused("x")
    shown = "".join(traceback.format_exception(caught.value))
    assert "local-key" not in shown  # the cause that could not be masked is cut
    assert caught.value.provider == "p"


def test_configured_header_values_of_any_shape_stay_out_of_reprs() -> None:
    # A gateway's credential header need not look like a key: its value is masked
    # by name, as KnownSecrets masks it in texts; plain headers stay readable.
    from relaykit.config import Config, ProviderConfig
    from relaykit.protocols import ProviderSettings

    token = "zz9-Weird-Shaped-Token-0123456789"
    headers = {"X-Custom-Auth": token, "anthropic-version": "2023-06-01"}
    shown = [
        repr(ProviderConfig(headers=dict(headers))),
        repr(Config(providers={"gw": ProviderConfig(headers=dict(headers))})),
        repr(ProviderSettings(name="gw", base_url="http://127.0.0.1:1", headers=headers)),
    ]
    for text in shown:
        assert token not in text and "zz9" not in text
        assert f"'X-Custom-Auth': '{MASK}'" in text
        assert "'anthropic-version': '2023-06-01'" in text


def test_an_exporters_header_values_of_any_shape_stay_out_of_the_config_repr() -> None:
    # [exporters.otlp] headers carry the collector's key (Honeycomb's, Grafana's),
    # of no shape scrub knows: masked by name, as a provider's headers are.
    from relaykit.config import Config

    token = "hcKeyPlainValue0123456789"
    headers = {"x-honeycomb-team": token, "content-type": "application/x-protobuf"}
    config = Config(exporters={"otlp": {"endpoint": "http://h:4318", "headers": headers}})
    text = repr(config)
    assert token not in text
    assert f"'x-honeycomb-team': '{MASK}'" in text
    assert "'content-type': 'application/x-protobuf'" in text
    assert "'endpoint': 'http://h:4318'" in text


def test_the_reprs_of_requests_mask_credentials_in_extra_and_metadata() -> None:
    """A request's ``extra`` passes provider fields through (``api_key`` among them, for
    some servers) and ``metadata`` is the caller's: shown in a repr (a traceback, a
    debugger, a test's failure), a credential in either is masked."""
    import attrs

    from relaykit.embeddings import EmbeddingRequest
    from relaykit.image_generation import ImageEditRequest, ImageRequest
    from relaykit.moderation import ModerationRequest
    from relaykit.request import ChatRequest
    from relaykit.rerank import RerankRequest
    from relaykit.speech import SpeechRequest
    from relaykit.transcription import TranscriptionRequest

    labelled, shaped = "plain-value-0123456789", "sk-proj-" + "Zr4" * 10
    extra, metadata = {"api_key": labelled}, {"correlation_id": shaped}
    request = ChatRequest(model="m", messages=(), extra=extra, metadata=metadata)
    assert "[REDACTED]" in repr(request)
    assert labelled not in repr(request) and shaped not in repr(request)
    assert request.extra == extra  # only the repr masks
    for cls in (
        EmbeddingRequest,
        ImageRequest,
        ImageEditRequest,
        ModerationRequest,
        RerankRequest,
        SpeechRequest,
        TranscriptionRequest,
    ):
        fields = attrs.fields_dict(cls)
        for name, value in (("extra", extra), ("metadata", metadata)):
            shown = fields[name].repr
            assert callable(shown), f"{cls.__name__}.{name}"
            assert shown(value).count("[REDACTED]") == 1, f"{cls.__name__}.{name}"


@given(st.text(alphabet="ab -:/\"'@=(,", max_size=40), st.integers(0, 30))
def test_a_cut_never_keeps_part_of_a_token(text: str, limit: int) -> None:
    from relaykit.secrets import cut_short

    def in_token(c: str) -> bool:
        return not c.isspace() and c not in "\"'<>[](){},;"

    cut = cut_short(text, limit)
    if len(text) <= limit:
        assert cut == text
        return
    assert cut.endswith("…") and len(cut) <= limit + 1
    end = len(cut) - 1
    assert text.startswith(cut[:end])
    # the kept text does not end inside a token that goes on past it
    assert end == 0 or not (in_token(text[end - 1]) and in_token(text[end]))
