"""``relaykit templates list|show|path|edit|delete``: the prompt templates ``-t`` uses.

::

    relaykit templates list             # every template: its name, where it is, its start
    relaykit templates show summarize   # the template's TOML
    relaykit templates path             # the folder of template files
    relaykit templates edit summarize   # open (or start) the file in $VISUAL / $EDITOR
    relaykit templates delete summarize

Templates are files in the user config dir or ``[templates.NAME]`` tables in
``relaykit.toml`` (:mod:`relaykit.cli.template_files`); ``edit`` and ``delete``
work on files: a table is changed where it is written.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, InvalidRequestError, RelayError
from .table import format_table
from .template_files import (
    config_source,
    file_names,
    load_template,
    read_template_file,
    render_template,
    template_path,
    templates_dir,
    write_template_file,
)

if TYPE_CHECKING:
    from ..config import Config
    from .context import CliContext
    from .template_files import PromptTemplate

#: how much of a template's prompt (or system prompt) ``list`` shows
SUMMARY_WIDTH = 60

#: what ``edit`` puts in a template file it creates
SKELETON = """\
# A relaykit prompt template: relaykit prompt -t {name} [TEXT]
# $input is the text given or piped; $NAME is filled by -p NAME VALUE; $$ is a literal $.
# Keys: model, system, prompt, defaults, options, schema, web_search, reasoning, functions.
# model = "openai/gpt-4o-mini"
# system = "You are a concise assistant."
prompt = "$input"
"""


def register(
    commands: argparse._SubParsersAction[Any], parents: Sequence[argparse.ArgumentParser]
) -> None:
    """Add the ``templates`` command and its actions."""
    parser = commands.add_parser(
        "templates",
        parents=parents,
        help="list, show and edit the prompt templates -t uses",
        description="Prompt templates for `relaykit prompt -t NAME` and `relaykit chat -t "
        "NAME`: TOML files in the user config dir (`relaykit templates path`), written by "
        "`relaykit prompt ... --save NAME` or `relaykit templates edit NAME`, and "
        "[templates.NAME] tables in relaykit.toml (a file of the same name wins).",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=parents, help="every template, briefly")
    listing.set_defaults(func=templates_list)
    show = actions.add_parser("show", parents=parents, help="print a template's TOML")
    show.add_argument("name", metavar="NAME")
    show.set_defaults(func=templates_show)
    path = actions.add_parser("path", parents=parents, help="print the folder of template files")
    path.set_defaults(func=templates_path)
    edit = actions.add_parser(
        "edit", parents=parents, help="open a template file in $VISUAL or $EDITOR (made if new)"
    )
    edit.add_argument("name", metavar="NAME")
    edit.set_defaults(func=templates_edit)
    delete = actions.add_parser("delete", parents=parents, help="delete a template file")
    delete.add_argument("name", metavar="NAME")
    delete.set_defaults(func=templates_delete)


def templates_list(args: argparse.Namespace) -> int:
    """Handle ``templates list``: one row per template; a broken one says what is wrong."""
    config = _config(args)
    rows = []
    for name in sorted({*file_names(), *config.templates}):
        try:
            template = load_template(name, config.templates, config.source)
        except RelayError as e:
            where = str(template_path(name)) if name in file_names() else name
            rows.append((name, where, f"error: {e.message}"))
            continue
        source = template.source
        if name in config.templates and source == str(template_path(name)):
            source += " (over the config's)"
        rows.append((name, source, _summary(template)))
    if not rows:
        print(
            "no templates yet: save one with relaykit prompt -s 'Summarize this' --save "
            "summarize, or relaykit templates edit NAME",
            file=sys.stderr,
        )
        return 0
    print(format_table(("name", "source", "starts"), rows))
    return 0


def templates_show(args: argparse.Namespace) -> int:
    """Handle ``templates show NAME``: the file as written, or the table as TOML."""
    config = _config(args)
    template = load_template(args.name, config.templates, config.source)
    path = template_path(args.name)
    if template.source == str(path):
        sys.stdout.write(path.read_text(encoding="utf-8"))
    else:
        print(f"# {template.source}")
        sys.stdout.write(render_template(config.templates[args.name]))
    return 0


def templates_path(args: argparse.Namespace) -> int:
    """Handle ``templates path``."""
    print(templates_dir())
    return 0


def templates_edit(args: argparse.Namespace) -> int:
    """Handle ``templates edit NAME``: run the editor on the file, then check what was saved."""
    path = template_path(args.name)
    config = _config(args)
    editor = _editor(args.name)  # before a new file is made: a bad setting leaves none behind
    if not path.is_file():
        if args.name in config.templates:
            raise _in_config(args.name, config, "edit")
        write_template_file(args.name, path, SKELETON.format(name=args.name))
    command = [*editor, str(path)]
    try:
        done = subprocess.run(command, check=False)
    except OSError as e:
        raise ConfigError(
            f"the editor {command[0]!r} could not start: {e.strerror}",
            hint="set $EDITOR (or $VISUAL) to an editor's command, e.g. EDITOR=nano",
        ) from None
    if done.returncode != 0:
        raise ConfigError(f"the editor {command[0]!r} exited with status {done.returncode}")
    read_template_file(args.name, path)  # a mistake is reported now, not at the next prompt
    print(f"template {args.name}: {path}")
    return 0


def templates_delete(args: argparse.Namespace) -> int:
    """Handle ``templates delete NAME``."""
    path = template_path(args.name)
    config = _config(args)
    if not path.is_file():
        if args.name in config.templates:
            raise _in_config(args.name, config, "delete")
        load_template(args.name, config.templates, config.source)  # the "no such" error
    path.unlink()
    print(f"deleted template {args.name} ({path})")
    if args.name in config.templates:
        print(f"{config_source(args.name, config.source)} is used from now on", file=sys.stderr)
    return 0


def _config(args: argparse.Namespace) -> Config:
    context: CliContext = args.context
    return context.load_config()


def _in_config(name: str, config: Config, action: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"template {name!r} is {config_source(name, config.source)}, not a file, so "
        f"`templates {action}` cannot change it",
        param="template",
        hint=f"change it in {config.source or 'the config file'}",
    )


def _editor(template: str) -> list[str]:
    """The editor's command line; a setting that is none is a typed error."""
    name = "VISUAL" if os.environ.get("VISUAL") else "EDITOR"
    command = os.environ.get(name)
    if not command:
        _need_terminal(template)
        return ["notepad"] if sys.platform == "win32" else ["vi"]
    fix = "set $EDITOR (or $VISUAL) to an editor's command, e.g. EDITOR=nano"
    try:
        words = shlex.split(command, posix=sys.platform != "win32")
    except ValueError as e:  # an unclosed quote
        raise ConfigError(f"${name} {command!r} is not a command line ({e})", hint=fix) from None
    if not words:  # blank: the file to edit would be run as the editor
        raise ConfigError(f"${name} is blank", hint=fix)
    return words


def _need_terminal(template: str) -> None:
    """Refuse to start the default editor without a terminal to show it on and read
    keys from: run by a script, vi waited for keys nobody would press. An editor
    named in $EDITOR runs anyway (it may be a script itself: ``sed -i ...``)."""
    for name in ("stdin", "stdout"):
        stream = getattr(sys, name)
        if stream is None or not stream.isatty():
            raise ConfigError(
                f"templates edit runs an editor, but {name} is no terminal",
                hint="set $EDITOR to an editor's command (EDITOR=nano), or write the"
                f" template with relaykit prompt -s SYSTEM ... --save {shlex.quote(template)}"
                " (--force to replace it)",
            )


def _summary(template: PromptTemplate) -> str:
    text = template.prompt or template.system or ""
    line = " ".join(text.split())
    if template.prompt is None and template.system:
        line = f"system: {line}"
    if len(line) > SUMMARY_WIDTH:
        line = line[: SUMMARY_WIDTH - 3] + "..."
    return line or "-"
