"""The AWS environment a test against :class:`~.mock.BedrockMock` runs in."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .mock import ACCESS_KEY, REGION, SECRET_KEY


def mock_aws_environment(directory: Path) -> Mapping[str, str]:
    """The variables that give botocore the mock's SigV4 credentials and region and
    nothing of this machine's AWS setup: its config and credentials files are
    (missing) files in ``directory``, and the instance metadata service is off.

    Remove every other ``AWS_*`` variable first (a developer's
    ``AWS_PROFILE`` or ``AWS_BEARER_TOKEN_BEDROCK`` would win over these)::

        for name in [n for n in os.environ if n.startswith("AWS_")]:
            monkeypatch.delenv(name)
        for name, value in mock_aws_environment(tmp_path).items():
            monkeypatch.setenv(name, value)
    """
    return {
        "AWS_CONFIG_FILE": str(directory / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(directory / "no-aws-credentials"),
        # never let botocore's chain reach for the instance metadata service
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": REGION,
    }
