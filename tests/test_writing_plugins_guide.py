"""docs/writing-plugins.md runs: its code blocks form a plugin that passes the contract suite.

The blocks are the files of one package. Executed in order in one namespace they
need no imports between them, so those lines are dropped, and the namespace
itself stands in for the ``relaykit_parrot.plugin`` module.
"""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit.testing import Harness

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "writing-plugins.md"


def load_guide() -> types.ModuleType:
    module = types.ModuleType("relaykit_parrot_guide")
    module.plugin = module  # type: ignore[attr-defined]
    for block in re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S):
        code = "\n".join(
            line
            for line in block.splitlines()
            if not re.match(r"\s*from (\.|relaykit_parrot)", line)
        )
        exec(compile(code, str(GUIDE), "exec"), module.__dict__)
    return module


guide = load_guide()


class TestGuideParrot(guide.TestParrot):  # type: ignore[name-defined,misc]
    """The guide's own contract test class, run as written: the whole suite."""


def _harness(mock: Any, **flags: Any) -> Harness:
    return Harness(
        mock=mock,
        model="parrot/parrot-1",
        providers={"parrot": {"base_url": mock.base_url, "api_key": guide.KEY}},
        plugins=(guide,),
        **flags,
    )


@pytest.mark.anyio
@pytest.mark.parametrize("refuses", [False, True])
async def test_the_suite_sees_an_image_left_out(
    monkeypatch: pytest.MonkeyPatch, refuses: bool
) -> None:
    # A request builder that sends a message's text alone passed the image check.
    wire = guide.request_body

    def without_images(request: Any, *, stream: bool) -> dict[str, Any]:
        if refuses and any(
            isinstance(p, relaykit.ImagePart) for m in request.messages for p in m.content
        ):
            raise relaykit.InvalidRequestError("parrot reads no images", param="messages")
        body: dict[str, Any] = wire(request, stream=stream)
        for turn in body["turns"]:
            del turn["images"]
        return body

    monkeypatch.setattr(guide, "request_body", without_images)
    with guide.ParrotMock(api_key=guide.KEY) as mock:
        contract = guide.TestParrot()
        if refuses:  # said so: the suite expects the refusal, unsent
            await contract.test_image_input(_harness(mock, supports_images=False))
            with pytest.raises(relaykit.InvalidRequestError, match="no images"):
                await contract.test_image_input(_harness(mock))
        else:
            with pytest.raises(AssertionError, match="image was left out"):
                await contract.test_image_input(_harness(mock))
            with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
                await contract.test_image_input(_harness(mock, supports_images=False))
