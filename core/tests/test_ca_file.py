"""``[http] ca_file``: checked when the client is built, with the key, the path and the fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import relaykit
from relaykit.cli import main
from relaykit.testing import loopback_tls
from relaykit.tls import ca_file_context


def client_with(ca_file: str, **env: str) -> relaykit.Client:
    return relaykit.Client({"storage": {"backend": "none"}, "http": {"ca_file": ca_file}}, env=env)


def test_a_missing_ca_file_fails_as_the_client_is_built(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ca.pem"
    with pytest.raises(relaykit.ConfigError) as caught:
        client_with(str(missing))
    text = str(caught.value)
    assert f"[http] ca_file: {missing} does not exist" in text
    assert "PEM file holding the certificate of the CA" in text  # the fix
    assert "remove it to trust the default CAs" in text


def test_a_ca_file_without_a_certificate_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("-----BEGIN PRIVATE KEY-----\nnot a certificate\n-----END PRIVATE KEY-----\n")
    with pytest.raises(relaykit.ConfigError, match="holds no readable PEM certificate"):
        client_with(str(bogus))
    bogus.write_text("")
    with pytest.raises(relaykit.ConfigError, match=r"ca\.pem holds no readable PEM certificate"):
        client_with(str(bogus))


def test_a_directory_is_not_a_ca_file(tmp_path: Path) -> None:
    with pytest.raises(relaykit.ConfigError, match=r"ca_file: .* is not a file"):
        client_with(str(tmp_path))


def test_the_environment_sets_the_ca_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "env-ca.pem")
    with pytest.raises(relaykit.ConfigError, match=r"env-ca\.pem does not exist"):
        relaykit.Client({"storage": {"backend": "none"}}, env={"RELAYKIT_HTTP_CA_FILE": missing})


def test_one_context_per_file_made_again_when_the_file_changes(tmp_path: Path) -> None:
    path = loopback_tls().write_ca(tmp_path / "ca.pem")
    first = ca_file_context(str(path))
    assert ca_file_context(str(path)) is first
    assert ca_file_context(os.path.relpath(path)) is first  # keyed by the absolute path
    path.write_bytes(loopback_tls().ca_pem)
    os.utime(path, ns=(1, 1))  # another CA of the same size: the mtime tells them apart
    second = ca_file_context(str(path))
    assert second is not first
    assert len(second.get_ca_certs()) == 1  # only the file's CA, not the default bundle


def test_the_cli_prints_a_bad_ca_file_as_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text(
        '[storage]\nbackend = "none"\n\n[http]\nca_file = "corp-ca.pem"\n\n'
        '[providers.openai]\nbase_url = "https://127.0.0.1:9/v1"\napi_key = "sk-x-0123456789"\n'
    )
    monkeypatch.setenv("RELAYKIT_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)

    assert main(["prompt", "-m", "openai/gpt-4o-mini", "hi"]) == 1

    err = capsys.readouterr().err
    # relative to the config file's directory, and named as the path looked at
    where = tmp_path / "corp-ca.pem"
    assert err.startswith(f"error: [http] ca_file: {where} does not exist (point [http] ca_file")
    assert "Traceback" not in err
    assert err.count("\n") == 1
