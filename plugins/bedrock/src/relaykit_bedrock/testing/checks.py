"""The body checks the mock's InvokeModel routes share, worded as Bedrock words its schema errors.

Bedrock validates an InvokeModel body against the model's JSON schema and
answers a 400 ``ValidationException`` such as ``Malformed input request:
#/dimensions: 300 is not a valid enum value, please reformat your input and try
again.`` Each check here returns the problem with one field's value (or
``None``), for :func:`malformed` to put in that sentence.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

#: A check of one field: the problem with ``value``, or ``None``.
Check = Callable[[Any], str | None]

_PROFILE = re.compile(r"^(?:us-gov|us|eu|apac|jp|au|ca|global)\.")


def base_model_id(model_id: str) -> str:
    """The foundation model id inside a model id, an inference profile id or an ARN."""
    return _PROFILE.sub("", model_id.rsplit("/", 1)[-1])


def enum(*allowed: object) -> Check:
    """A check that the value is one of ``allowed``."""

    def check(value: Any) -> str | None:
        return None if value in allowed else f"{value} is not a valid enum value"

    return check


def string(value: Any) -> str | None:
    """A check that the value is a string of at least one character."""
    if not isinstance(value, str):
        return f"expected type: String, found: {type(value).__name__}"
    return None if value else "expected minLength: 1, actual: 0"


def string_up_to(most: int) -> Check:
    """A check that the value is a string of one to ``most`` characters."""

    def check(value: Any) -> str | None:
        if problem := string(value):
            return problem
        return None if len(value) <= most else f"expected maxLength: {most}, actual: {len(value)}"

    return check


def boolean(value: Any) -> str | None:
    """A check that the value is true or false."""
    return None if isinstance(value, bool) else f"expected type: Boolean, found: {value!r}"


def integer(value: Any) -> str | None:
    """A check that the value is a whole number (JSON's true and false are not)."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    return None if ok else f"expected type: Integer, found: {value!r}"


def integer_between(least: int, most: int | None = None) -> Check:
    """A check that the value is an integer from ``least`` to ``most`` (no upper bound: None)."""

    def check(value: Any) -> str | None:
        if problem := integer(value):
            return problem
        if value < least:
            return f"{value} is not greater or equal to {least}"
        if most is not None and value > most:
            return f"{value} is not less or equal to {most}"
        return None

    return check


def number_between(least: float, most: float) -> Check:
    """A check that the value is a number (whole or not) from ``least`` to ``most``."""

    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected type: Number, found: {value!r}"
        if value < least:
            return f"{value} is not greater or equal to {least}"
        if value > most:
            return f"{value} is not less or equal to {most}"
        return None

    return check


def list_of(item: Check, most: int | None = None) -> Check:
    """A check that the value is a list of one to ``most`` items, each passing ``item``."""

    def check(value: Any) -> str | None:
        if not isinstance(value, list):
            return f"expected type: JSONArray, found: {type(value).__name__}"
        if not value:
            return "expected minimum item count: 1, found: 0"
        if most is not None and len(value) > most:
            return f"expected maximum item count: {most}, found: {len(value)}"
        for i, v in enumerate(value):
            if problem := item(v):
                return f"/{i}: {problem}"  # the item's path, joined onto the list's
        return None

    return check


def schema_problem(
    body: Any, required: tuple[str, ...], checks: dict[str, Check], where: str = "#"
) -> str | None:
    """The ValidationException message for a ``body`` that breaks the schema, or ``None``.

    Like Bedrock, a body that is not an object, lacks a ``required`` key, has a
    key the schema does not know or a value its check refuses is refused, the
    first problem named. ``where`` is the body's path: ``"#/textToImageParams"``
    for an object inside another.
    """
    if not isinstance(body, dict):
        return malformed(where, "expected type: JSONObject")
    for key in required:
        if key not in body:
            return malformed(where, f"required key [{key}] not found")
    for key, value in body.items():
        check = checks.get(key)
        if check is None:
            return malformed(where, f"extraneous key [{key}] is not permitted")
        if problem := check(value):
            path = f"{where}/{key}"
            while problem.startswith("/"):  # a list item's: "#/texts/0: expected ..."
                step, _, problem = problem.partition(": ")
                path += step
            return malformed(path, problem)
    return None


def malformed(where: str, problem: str) -> str:
    """Bedrock's sentence for a body that breaks the model's schema at ``where``."""
    return f"Malformed input request: {where}: {problem}, please reformat your input and try again."
