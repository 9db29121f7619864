"""Numbers read from text in core are ASCII digits: ``str.isdigit()`` is true of
``٣`` (read by ``int()`` as 3) and of superscripts ``²`` (refused by ``int()``
with a ValueError, a traceback where a typed error or nothing was due)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from relaykit import ConfigError
from relaykit.env_proxies import bypassed
from relaykit.plugin_options import whole_number
from relaykit.record_spill import take


@pytest.mark.parametrize("raw", ["٨٠", "8²", "３"])
def test_a_config_number_in_other_digits_is_a_config_error(raw: str) -> None:
    with pytest.raises(ConfigError, match=r"exporters\.statsd\.port must be a port number"):
        whole_number({"port": raw}, "port", 8125, where="exporters.statsd", low=1, high=65535)


@pytest.mark.parametrize("entry", ["internal:٨٠", "internal:8²"])
def test_a_no_proxy_port_in_other_digits_matches_no_port(entry: str) -> None:
    assert not bypassed((entry,), "internal", 80)
    assert not bypassed((entry,), "internal", 82)


def test_a_taken_spill_file_with_other_digits_for_a_pid_is_left_alone(tmp_path: Path) -> None:
    """A name such as ``spill.jsonl.²³.x.taken`` is no taken file of this or a dead
    process: take() raised ValueError on it, and no import could run."""
    path = tmp_path / "spill.jsonl"
    path.write_text("{}\n")
    odd = tmp_path / "spill.jsonl.²³.abcd.taken"
    odd.write_text("{}\n")
    taken = take(path)
    assert [p.name.split(".")[2] for p in taken] == [str(os.getpid())]
    assert odd.exists()
