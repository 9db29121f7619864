"""``relaykit prompt/chat -t NAME -p NAME VALUE``: a template's defaults under the flags.

The template (:mod:`relaykit.cli.template_files`) supplies what the command line
leaves out; an explicit flag wins: ``-m`` over its ``model``, ``-s`` over its
``system``, ``-r`` over its ``reasoning``, ``--schema`` over its ``schema``, and
each ``-o KEY=VALUE`` over its ``options`` key. Its ``functions`` come before
those of ``--functions``, and ``--web-search`` turns searching on whatever it says.

The prompt is composed as simonw/llm composes it: ``$input`` in the template
stands for the text given or piped; a template prompt without ``$input`` (in
it or in its system prompt) gets the input after it, on a new line; a template
without a prompt sends the input as it is.
"""

from __future__ import annotations

import argparse
import string
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import InvalidRequestError, did_you_mean

if TYPE_CHECKING:
    from ..config import Config
    from .template_files import PromptTemplate

INPUT = "input"


def add_template_options(parser: argparse.ArgumentParser, *, save: bool = False) -> None:
    """Add ``-t/--template`` and ``-p/--param`` (with ``save``: ``--save`` and ``--force``)."""
    parser.add_argument(
        "-t",
        "--template",
        metavar="NAME",
        help="start from a saved template (`relaykit templates list`); flags given win",
    )
    parser.add_argument(
        "-p",
        "--param",
        dest="template_params",
        nargs=2,
        metavar=("NAME", "VALUE"),
        action="append",
        help="fill the template's $NAME with VALUE (repeatable)",
    )
    if save:
        parser.add_argument(
            "--save",
            metavar="NAME",
            help="save -m, -s, -o, -r, -p (as defaults), --schema, --web-search, "
            "--functions and TEXT (as the prompt; $input marks where input goes) as "
            "template NAME, and call no model",
        )
        parser.add_argument(
            "--force", action="store_true", help="with --save: replace a template of that name"
        )


@attrs.frozen
class TemplateUse:
    """A template with its parameters filled in: what a prompt or a chat turn sends."""

    template: PromptTemplate
    #: each ``$NAME`` but ``$input``: ``-p`` values over the template's ``defaults``
    values: Mapping[str, str]

    @property
    def uses_input(self) -> bool:
        """Whether ``$input`` appears in the template (else the input follows its prompt)."""
        return INPUT in self.template.variables()

    @property
    def system_uses_input(self) -> bool:
        """Whether the system prompt holds ``$input`` (a chat has no one input for it)."""
        system = self.template.system
        return bool(system) and INPUT in string.Template(system or "").get_identifiers()

    def system(self, text: str = "") -> str | None:
        """The template's system prompt, filled in (``text`` is ``$input``)."""
        return self.template.fill("system", {**self.values, INPUT: text})

    def prompt(self, text: str) -> str:
        """The user message for the input ``text``, as simonw/llm composes it."""
        if self.template.prompt is None:
            return text
        filled = self.template.fill("prompt", {**self.values, INPUT: text}) or ""
        if not self.uses_input and text.strip():
            return f"{filled}\n{text}" if filled else text
        return filled


def use_template(args: argparse.Namespace, config: Config) -> TemplateUse | None:
    """Load ``-t NAME``, check its ``-p`` values, and put its defaults into ``args``
    wherever no flag was given; ``None`` without ``-t``."""
    params = dict(args.template_params or ())
    if args.template is None:
        if params:
            raise InvalidRequestError(
                "-p fills a template's $NAME, but no template was given",
                param="param",
                hint="add -t NAME (`relaykit templates list` lists them)",
            )
        return None
    from .template_files import load_template

    template = load_template(args.template, config.templates, config.source)
    values = _values(template, params)
    _fill_args(template, args)
    return TemplateUse(template, values)


def _values(template: PromptTemplate, params: dict[str, str]) -> dict[str, str]:
    needed = [name for name in template.variables() if name != INPUT]
    if INPUT in params:
        raise InvalidRequestError(
            "-p input: $input is the text given or piped, not a parameter",
            param="param",
            hint="pass it as TEXT or pipe it in",
        )
    for name in params:
        if name not in needed:
            uses = ", ".join(f"${n}" for n in needed) or "no parameters"
            raise InvalidRequestError(
                f"template {template.name!r} has no ${name} (it uses {uses})",
                param="param",
                hint=did_you_mean(name, needed, "leave out that -p"),
            )
    values = {**template.defaults, **params}
    missing = [name for name in needed if name not in values]
    if missing:
        wanted = " ".join(f"-p {name} VALUE" for name in needed)
        raise InvalidRequestError(
            f"template {template.name!r} needs {', '.join('$' + m for m in missing)}: "
            f"give {' '.join(f'-p {m} VALUE' for m in missing)}",
            param="param",
            hint=f"its parameters: {wanted}",
        )
    return values


def _fill_args(template: PromptTemplate, args: argparse.Namespace) -> None:
    """The template's settings into ``args`` where the command line left a gap."""
    if args.model is None:
        args.model = template.model
    if args.reasoning is None and template.reasoning is not None:
        args.reasoning = template.reasoning
    # Template options first: a later -o of the same key wins (chat_params keeps the last).
    front: list[tuple[str, Any]] = list(template.options.items())
    if isinstance(template.web_search, Mapping):
        front.append(("web_search", dict(template.web_search)))
    elif template.web_search:
        args.web_search = True
    if template.schema is not None and getattr(args, "schema", None) is None:
        schema = _schema(template)
        if hasattr(args, "schema"):
            args.schema = schema
        else:  # chat has no --schema, but its turns take a response format as well
            front.append(("response_format", schema))
    args.params = [*front, *(args.params or ())]
    if template.functions:
        args.functions = [*template.paths(template.functions), *(args.functions or ())]


def _schema(template: PromptTemplate) -> dict[str, Any]:
    """The template's ``schema``: a table is the JSON schema; a string is what
    ``--schema`` takes (a file's path is read from the template's folder)."""
    from .schema_option import schema_from_option

    if isinstance(template.schema, Mapping):
        return dict(template.schema)
    text = str(template.schema).strip()
    if not text.startswith("{") and (template.base / text).is_file():
        text = str(template.base / text)
    return schema_from_option(text)
