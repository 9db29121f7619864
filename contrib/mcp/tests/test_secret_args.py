"""Which arguments of a ``--mcp "server --token T"`` command line are credentials
(:mod:`relaykit_mcp.secret_args`), and how the server's label shows them."""

from __future__ import annotations

import pytest

from relaykit import Secret
from relaykit.secrets import MASK
from relaykit_mcp.secret_args import flag_value, secret_args, shown


@pytest.mark.parametrize(
    ("args", "label"),
    [
        (["--token", "T0k3n-value"], f"--token {MASK}"),
        (["--api-key", "k-1", "--port", "80"], f"--api-key {MASK} --port 80"),
        (["--password=hunter2-pw", "-v"], f"--password={MASK} -v"),
        (["--client-secret", "abc", "x"], f"--client-secret {MASK} x"),
        (["--GITHUB_TOKEN", "v"], f"--GITHUB_TOKEN {MASK}"),
        (["sk-proj-abcdef0123456789XYZ"], MASK),
        (["https://u:pw-123456789@host/x"], MASK),
        (["--url", "https://host/x?api_key=abcdef12345"], f"--url {MASK}"),
        (["--auth", "--verbose"], "--auth --verbose"),  # a flag alone is no secret
        (["serve", "--dir", "/tmp/x", "plain"], "serve --dir /tmp/x plain"),
        (["--authToken", "t-1"], f"--authToken {MASK}"),  # camelCase words
        (["--pgpassword", "pw"], f"--pgpassword {MASK}"),  # a word ending in one
        (["--secret-key-base", "b"], f"--secret-key-base {MASK}"),
    ],
)
def test_secret_looking_arguments_are_masked_in_the_label(args: list[str], label: str) -> None:
    masked = secret_args(args)
    assert " ".join(map(shown, masked)) == label
    assert [a.reveal() if isinstance(a, Secret) else a for a in masked] == args  # sent as given


def test_a_flag_values_value_alone_is_a_secret_too() -> None:
    (arg,) = secret_args(["--token=T0k3n-value"])
    assert isinstance(arg, Secret) and flag_value(arg) == "T0k3n-value"
    assert flag_value("plain") == "" and flag_value(Secret("a=b c")) == ""


@pytest.mark.parametrize(
    "args",
    [
        # a flag whose name merely holds a credential word's letters, counts tokens,
        # names where a credential is kept or turns one off: its value is no secret,
        # and masked it would be masked in every tool result and quoted stderr too
        ["--max-tokens", "1000"],
        ["--max-token", "1000"],
        ["--tokenizer", "gpt2"],
        ["--author", "Ada"],
        ["--keyboard", "us"],
        ["--monkey=patch"],
        ["--key-file", "/etc/server.pem"],
        ["--token-url", "https://auth.example/token"],
        ["--auth-type", "oauth"],
        ["--no-auth", "serve"],
    ],
)
def test_arguments_that_only_look_like_credential_flags_are_shown(args: list[str]) -> None:
    masked = secret_args(args)
    assert masked == args
    assert " ".join(map(shown, masked)) == " ".join(args)
