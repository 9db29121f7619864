"""What a Claude model's id names: its version and its family.

The id is read wherever a host puts the model's name in it: Anthropic's
(``claude-opus-4-7``, ``claude-sonnet-4-5-20250929``), Vertex AI's
(``claude-opus-4-6@20260205``), Bedrock's (``anthropic.claude-opus-4-6-v1``,
an inference profile's ``us.anthropic.claude-...``, or an ARN ending in
either) and Claude 3's older order (``claude-3-7-sonnet-20250219``). A date is
no minor version (eight digits). A name with no Claude version in it (a
gateway's alias, a Foundry deployment's own name) names none: the caller reads
the model such a name serves instead, when it knows it.
"""

from __future__ import annotations

import re

# Claude 4 on: claude-opus-4-6, claude-sonnet-4-5-20250929, claude-opus-4-20250514.
_VERSION = re.compile(r"claude-[a-z]+-(\d+)(?:-(\d{1,2}))?(?!\d)")
# Claude 3: claude-3-7-sonnet-20250219, claude-3-haiku-20240307.
_OLD_VERSION = re.compile(r"claude-(\d+)(?:-(\d{1,2}))?-[a-z]")
# Claude 4 on put the family first: claude-opus-4-7, claude-fable-5.
_FAMILY = re.compile(r"claude-([a-z]+)-\d")


def claude_version(model: str) -> tuple[int, int] | None:
    """``(major, minor)`` of the Claude model ``model`` names, or ``None`` when it names none."""
    name = model.lower()
    found = _VERSION.search(name) or _OLD_VERSION.search(name)
    if found is None:
        return None
    return int(found.group(1)), int(found.group(2) or 0)


def claude_family(model: str) -> str | None:
    """The family (``"opus"``, ``"sonnet"``, ``"fable"``) of a Claude 4-or-later
    model ``model`` names with its version, or ``None`` (Claude 3's ids put the
    version first and are not read here)."""
    found = _FAMILY.search(model.lower())
    return found.group(1) if found else None


def model_words(family: str, version: tuple[int, int] | None) -> str:
    """The model in words, for messages: ``Claude Opus 4.7``, ``Claude Fable 5``,
    ``Claude Mythos`` (a model that names no version, as a preview)."""
    words = f"Claude {family.title()}"
    if version is None:
        return words
    major, minor = version
    return f"{words} {major}" + (f".{minor}" if minor else "")


def as_deployment(words: str, model: str, served: str | None) -> str:
    """``words`` (a model in words), saying which deployment it stands for when
    ``model`` is a deployment's name that serves ``served``:
    ``Claude Opus 4.7 (deployment 'my-claude')``."""
    if served and served != model:
        return f"{words} (deployment {model!r})"
    return words
