"""``relaykit prompt ... --save NAME``: write the flags given as a template, call no model.

What is saved: ``-m`` (model), ``-s`` (system), ``TEXT`` (prompt; stdin is
never read, since it is the input a template is later used on), ``-p``
(defaults), ``-o`` (options), ``--schema`` (resolved to its JSON schema, so the
template works wherever it is run from), ``--web-search``, ``-r`` and
``--functions`` (as absolute paths).

An existing template is replaced only with ``--force``: a name typed twice
should not silently lose the first prompt. Secrets are never written: an
option named like a credential (``-o api_key=...``), or any value that looks
like one, refuses the save, and nothing is written.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from ..errors import InvalidRequestError
from ..secrets import scrub
from .template_files import (
    parse_template,
    render_template,
    template_path,
    write_template_file,
)

# Option names whose values are credentials; not "max_tokens", which ends in "tokens".
_SECRET_OPTION = re.compile(
    r"(?i)api_?key|secret|password|passwd|authorization|credential|"
    r"(?:access|auth|bearer|refresh|session|id)_?token$|^token$|^key$"
)


def save_template(args: argparse.Namespace) -> int:
    """Handle ``--save NAME``: check, write, and say where."""
    path = template_path(args.save)
    _refuse_mixed(args)
    values = template_values(args)
    if not values:
        raise InvalidRequestError(
            "--save has nothing to save",
            param="save",
            hint="give what the template holds: relaykit prompt -s 'Summarize this' "
            "-m MODEL --save summarize",
        )
    _refuse_secrets(values)
    text = render_template(values)
    # The file is read back as any template is: what cannot be used is not written.
    import tomllib

    parse_template(args.save, tomllib.loads(text), str(path), path.parent)
    if path.exists() and not args.force:
        raise InvalidRequestError(
            f"template {args.save!r} already exists ({path})",
            param="save",
            hint="add --force to replace it, or change it with "
            f"`relaykit templates edit {args.save}`",
        )
    write_template_file(args.save, path, text)
    print(f"saved template {args.save}: {path}")
    return 0


def template_values(args: argparse.Namespace) -> dict[str, Any]:
    """The template keys the flags in ``args`` give, in file order."""
    values: dict[str, Any] = {}
    if args.model:
        values["model"] = args.model
    if args.system is not None:
        values["system"] = args.system
    if args.text is not None:
        values["prompt"] = args.text
    if args.template_params:
        values["defaults"] = dict(args.template_params)
    if args.params:
        values["options"] = dict(args.params)
    if args.schema is not None:
        from .schema_option import schema_from_option

        values["schema"] = json.dumps(schema_from_option(args.schema), indent=2)
    if args.web_search:
        values["web_search"] = True
    if args.reasoning is not None:
        values["reasoning"] = args.reasoning
    if args.functions:
        values["functions"] = [str(Path(p).resolve()) for p in args.functions]
    return values


def _refuse_mixed(args: argparse.Namespace) -> None:
    given = [
        flag
        for flag, value in (
            ("-t", args.template),
            ("--continue", args.continue_id),
            ("-a", args.attachments),
            ("--mcp", args.mcp),
            # what only a call uses: --save calls no model
            ("--max-steps", args.max_steps is not None),
            ("--json", args.json),
            ("--no-stream", not args.stream),
            ("--count-tokens", args.count_tokens),
        )
        if value
    ]
    if given:
        raise InvalidRequestError(
            f"--save cannot be used with {', '.join(given)}: a template does not keep it",
            param="save",
            hint="save the template without it, then use it: relaykit prompt -t NAME ...",
        )


def _refuse_secrets(values: dict[str, Any]) -> None:
    for name in values.get("options", {}):
        if _SECRET_OPTION.search(name):
            raise InvalidRequestError(
                f"--save will not write the option {name} (a credential); a template "
                "is a plain file, and keys do not belong in one",
                param="save",
                hint="set the key in the environment (OPENAI_API_KEY=...) or the key "
                "vault (relaykit keys set), and save without that -o",
            )
    for key, value in values.items():
        text = render_template({key: value})
        if scrub(text) != text:
            raise InvalidRequestError(
                f"--save will not write the {key}: it holds what looks like a key or password",
                param="save",
                hint="take the secret out (keys go in the environment or `relaykit keys set`)",
            )
