"""The options ``prompt`` and ``chat`` share: ``-m MODEL``, ``--system TEXT``, ``-o key=value``."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, InvalidRequestError

if TYPE_CHECKING:
    from ..config import Config
    from ..messages import Message


def add_chat_options(parser: argparse.ArgumentParser) -> None:
    """Add ``-m``, ``--system``, ``--reasoning``, ``--web-search`` and ``-o`` to a
    command's parser."""
    parser.add_argument(
        "-m",
        "--model",
        help="model id such as openai/gpt-4o-mini, or an alias from [models] "
        "(default: [defaults] model in the config)",
    )
    parser.add_argument("-s", "--system", metavar="TEXT", help="system prompt")
    parser.add_argument(
        "-r",
        "--reasoning",
        metavar="EFFORT|TOKENS",
        type=_reasoning,
        help="how much the model thinks first: none, minimal, low, medium, high, xhigh, "
        "or a budget in tokens",
    )
    parser.add_argument(
        "--web-search",
        action="store_true",
        help="let the model search the web before it answers; the pages it cites are "
        "listed after the answer, on stderr (limits: -o 'web_search={\"max_uses\": 3}')",
    )
    parser.add_argument(
        "-o",
        "--option",
        dest="params",
        metavar="KEY=VALUE",
        action="append",
        type=parse_param,
        help="chat parameter, repeatable: -o max_tokens=200 -o temperature=0.2 "
        "(values are parsed as JSON when they can be, else taken as text)",
    )


def parse_param(text: str) -> tuple[str, Any]:
    """Parse one ``-o key=value``: the value as JSON if it parses, else as the plain string.

    JSON first so numbers, booleans, lists and objects arrive typed
    (``-o stop=["a","b"]``); anything else (``-o stop=END``) stays text, so nobody
    has to quote strings twice on a shell command line.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


def _reasoning(text: str) -> str | int:
    # A budget is digits; anything else is an effort, checked by the client with
    # the other parameters (its error names the efforts relaykit knows).
    # isdigit() is true of other scripts' digits too (number_options says why not)
    budget = text.strip()
    if budget.isdigit() and not budget.isascii():
        raise argparse.ArgumentTypeError(f"{text!r} is not a budget: write it in digits 0-9")
    return int(budget) if budget.isdigit() else budget


def chat_params(args: argparse.Namespace) -> dict[str, Any]:
    """The ``-o`` parameters as keyword arguments for ``client.chat``; later ones win,
    and ``--reasoning`` over an ``-o reasoning=...``. ``--web-search`` searches with
    the vendor's defaults, unless ``-o web_search=...`` says more."""
    params = dict(args.params or ())
    for key, value in params.items():
        _check_range(key, value)
        if key in _MAPPINGS:
            check_mapping(key, value)
    if getattr(args, "reasoning", None) is not None:
        params["reasoning"] = args.reasoning
    if getattr(args, "web_search", False) and params.get("web_search") in (None, False):
        params["web_search"] = True
    return params


#: what each numeric -o parameter may be: a token count or seed a vendor stores in
#: 32 or 64 bits (larger ones come back as an obscure 400), sampling in every
#: vendor's range. Other types are left to the client's own checks.
_RANGES: dict[str, tuple[int, int]] = {
    "max_tokens": (1, 2**31 - 1),
    "seed": (-(2**63), 2**63 - 1),
    "temperature": (0, 2),
    "top_p": (0, 1),
}


#: the -o parameters that are objects: what an example of each holds
_MAPPINGS = {"extra": '{"user": "u-7"}', "metadata": '{"user": "ana"}'}


def check_mapping(key: str, value: Any) -> None:
    """Refuse ``-o extra=...`` or ``-o metadata=...`` that is not a JSON object, the way
    to write one in the hint (the client's own error says "must be a dict")."""
    if not isinstance(value, dict):
        raise InvalidRequestError(
            f"-o {key} must be a JSON object, got {value!r}",
            param=key,
            hint=f"e.g. -o {key}='{_MAPPINGS[key]}'",
        )


def _check_range(key: str, value: Any) -> None:
    bounds = _RANGES.get(key)
    if bounds is None or not isinstance(value, int | float) or isinstance(value, bool):
        return
    low, high = bounds
    if not low <= value <= high:  # NaN cannot come from JSON
        raise InvalidRequestError(
            f"-o {key}={value} is out of range",
            param=key,
            hint=f"give {key} from {low} to {high}",
        )


def resolve_model(model: str | None, config: Config) -> str:
    """``-m``, else ``[defaults] model``; a clear error when neither is set."""
    chosen = model or config.defaults.model
    if not chosen:
        raise ConfigError(
            "no model given",
            hint="pass -m provider/model (e.g. -m openai/gpt-4o-mini) "
            "or set [defaults] model in relaykit.toml",
        )
    return chosen


def first_messages(system: str | None) -> list[Message]:
    """The conversation before the first user turn: the system prompt, if any."""
    from ..messages import Message

    return [Message.system(system)] if system else []
