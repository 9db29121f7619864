"""The ``relaykit`` command: build the parser, run the chosen command, report errors.

This is the one place that turns a :class:`relaykit.RelayError` into the line
``error: <message>`` on stderr and exit code 1; commands simply raise. Ctrl-C
exits with 130 and a closed output pipe with 141, both without a traceback; output
that cannot be written (a full disk: ``> /dev/full``) is one ``error:`` line too.
Every write is written whole (:mod:`.whole_writes`), whatever the command.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import inspect
import io
import os
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from .. import __version__
from ..errors import ConfigError, InvalidRequestError, RelayError
from ..event_loops import BACKENDS, check_backend
from ..plugin_faults import list_results
from .context import CliContext
from .log_output import log_output, verbosity
from .text_options import non_blank
from .whole_writes import whole_writes

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

    from ..plugins import PluginManager

#: modules of this package that add a built-in command, in ``--help`` order
BUILTIN_COMMANDS = (
    "prompt",
    "chat",
    "embed",
    "rerank",
    "transcribe",
    "image",
    "speak",
    "moderate",
    "batch",
    "models",
    "plugins",
    "tools",
    "templates",
    "demo",
    "logs",
    "keys",
)
#: the attribute of the parsed arguments holding the parser of the command that runs
COMMAND_PARSER = "command_parser"
#: OS errors of a write that has nowhere to go: never a bug, whichever write hit them
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


def main(argv: Sequence[str] | None = None, *, plugins: Iterable[object] = ()) -> int:
    """Run the ``relaykit`` command line and return its exit code.

    :param argv: the arguments after the program name (default: ``sys.argv[1:]``).
    :param plugins: extra plugin objects, registered after entry points as
        ``relaykit.Client(plugins=...)`` does; they may add providers and commands.
    """
    _utf8_output()
    restore_output = whole_writes()
    try:
        code = _run(argv, tuple(plugins))
        if sys.stdout is not None:  # here, so that a reader gone is 141 as at any write
            sys.stdout.flush()
        return code
    except SystemExit as e:  # argparse on --help and usage errors; sys.exit() in a command
        return _exit_code(e)
    except BaseException as e:
        error = _sole_exception(e)
        if isinstance(error, KeyboardInterrupt):
            return 130
        if isinstance(error, BrokenPipeError):  # the reader left: relaykit models | head
            _discard_stdout()
            return 141  # what a shell reports for a process ended by SIGPIPE
        if isinstance(error, OSError) and error.errno in _NO_ROOM:
            # relaykit prompt ... > /dev/full: the answer (paid for) was printed into
            # a full disk. Say so; stdout is dropped, else the flush at exit fails again.
            _discard_stdout()
            where = "the output" if error.filename is None else repr(str(error.filename))
            print(
                f"error: cannot write {where}: {error.strerror}"
                " (free some space, or write somewhere else)",
                file=sys.stderr,
            )
            return 1
        if not isinstance(error, RelayError):
            raise
        # One line, whatever the provider put in its message: scripts grep for it.
        print("error: " + " ".join(str(error).splitlines()), file=sys.stderr)
        return 1
    finally:
        restore_output()


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one ``error:`` line like every other error, and
    an option is never abbreviated.

    Sub-command parsers (plugins' too) inherit the class from their parent.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # argparse reads --max as --max-steps, and as an error the day another --max-...
        # option is added: scripts would break. simonw/llm (click) takes no abbreviation;
        # the error's did-you-mean names the whole option instead.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        from ..secrets import scrub

        # argparse echoes the value it refused: -o $OPENAI_API_KEY would print the key
        text = scrub(" ".join(message.split()))
        print(f"error: {self.prog}: {text} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        # argparse drops the OSError of --help and --version output and exits 0:
        # `relaykit --help > /dev/full` would succeed with nothing written. Raised
        # (and flushed now, not at exit), main() reports it as for any command.
        if file is None or file is sys.stderr or not message:
            super()._print_message(message, file)
            return
        file.write(message)
        flush = getattr(file, "flush", None)
        if flush is not None:
            flush()

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Parse, and refuse what this parser does not know, here rather than at the top.

        argparse hands a sub-command's unknown arguments up to the top-level parser,
        whose error names ``relaykit`` and its help; refused here, the error names the
        command (``relaykit prompt``), its help, and the nearest option.
        """
        parsed, extras = super().parse_known_args(args, namespace)
        # The innermost parser finishes first: the command's own, whose options an
        # error may name (typed_options); its parents keep it.
        vars(parsed).setdefault(COMMAND_PARSER, self)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}{self._nearest(extras)}")
        return parsed, extras

    def _nearest(self, extras: Sequence[str]) -> str:
        from ..errors import did_you_mean

        unknown = next((a.partition("=")[0] for a in extras if a.startswith("--")), None)
        if unknown is None:
            return ""
        param = unknown[2:].replace("-", "_")
        takes_params = "--option" in self._option_string_actions
        if takes_params and param in _chat_params():
            return f"; did you mean -o {param}=VALUE?"
        options = [o for o in self._option_string_actions if o.startswith("--")]
        # an abbreviation (no longer taken): the options and -o parameters it starts
        started = [repr(o) for o in sorted(options) if o.startswith(unknown)]
        if takes_params:
            started += [f"-o {p}=VALUE" for p in _chat_params() if p.startswith(param)]
        if started:
            return f"; did you mean {' or '.join(started)}?"
        near = did_you_mean(unknown, options)
        return f"; {near}" if near else ""


def _chat_params() -> tuple[str, ...]:
    from ..request import PARAMS

    return PARAMS


def build_parser(pm: PluginManager) -> argparse.ArgumentParser:
    """The argument parser: global options, built-in commands, then plugins' commands."""
    parser = _Parser(
        prog="relaykit",
        description="One typed API over many LLM providers. Try: relaykit demo",
    )
    parser.add_argument("--version", action="version", version=f"relaykit {__version__}")
    _add_global_options(parser, suppress=False)
    # Built-in commands also accept the global options after the command name
    # (relaykit prompt --backend trio ...). SUPPRESS keeps a sub-command from
    # resetting a value given before it to the default.
    common = _Parser(add_help=False)
    _add_global_options(common, suppress=True)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in BUILTIN_COMMANDS:
        importlib.import_module(f".{name}", __package__).register(commands, [common])
    try:
        list_results(pm, "relaykit_commands", cli=commands)  # one plugin at a time
    except ConfigError as e:
        if not isinstance(e.__cause__, argparse.ArgumentError):
            raise
        raise ConfigError(
            f"a plugin's command clashes with another command: {e.message}",
            hint="rename the plugin's command, or block the plugin: RELAYKIT_DISABLE_PLUGINS=NAME",
        ) from e.__cause__
    # Plugins' commands take the global options after their name too (relaykit
    # gateway -c prod.toml), and list them in their --help, as built-ins do.
    for name, command in commands.choices.items():
        if name not in BUILTIN_COMMANDS:
            _add_global_options_to_tree(command)
    return parser


def _add_global_options_to_tree(parser: argparse.ArgumentParser) -> None:
    """Add the global options (as ``common`` has them) to ``parser`` and the parsers of
    its own sub-commands; an option string the plugin already uses stays its own."""
    taken = parser._option_string_actions  # argparse has no public way to ask
    _add_global_options(parser, suppress=True, skip=frozenset(taken))
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _add_global_options_to_tree(sub)


def _add_global_options(
    parser: argparse.ArgumentParser, *, suppress: bool, skip: frozenset[str] = frozenset()
) -> None:
    """Add ``-c``, ``--backend``, ``-v`` and ``--log-json``, leaving out the option
    strings in ``skip``; ``suppress``: no defaults, so a value given earlier stays."""

    def add(*flags: str, default: Any, **kwargs: Any) -> None:
        free = [flag for flag in flags if flag not in skip]
        if free:
            parser.add_argument(*free, default=argparse.SUPPRESS if suppress else default, **kwargs)

    add(
        "-c",
        "--config",
        metavar="PATH",
        type=non_blank("a config file (relaykit.toml)"),
        default=None,
        help="config file (default: $RELAYKIT_CONFIG, ./relaykit.toml, then the user config dir)",
    )
    add(
        "--backend",
        choices=BACKENDS,
        default="asyncio",
        help="event loop to run on (default: asyncio)",
    )
    add(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log more on stderr: -v a line per call, -vv everything (debug)",
    )
    add(
        "--log-json",
        action="store_true",
        default=False,
        help="write log lines as JSON objects (for a log shipper)",
    )


def _utf8_output() -> None:
    """Make stdout and stderr write UTF-8 under the C locale (``LC_ALL=C PYTHONUTF8=0``).

    Python then encodes them as ASCII: a model's "Grüße" was a UnicodeEncodeError
    traceback halfway through the answer. UTF-8 is what Python's own UTF-8 mode
    writes there (PEP 540), and what stdin is read as here (``stdin_text``). Any
    other locale's codec stays, with what it cannot encode written as ``\\xfc``.
    """
    import codecs

    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, io.TextIOWrapper):  # a test's capture, a closed stream
            continue
        codec = codecs.lookup(stream.encoding).name
        if codec == "utf-8":
            continue
        try:
            if codec == "ascii":
                stream.reconfigure(encoding="utf-8", errors="surrogateescape")
            else:
                stream.reconfigure(errors="backslashreplace")
        except (OSError, ValueError):  # closed, or written to already: leave it
            continue


#: options whose value names a file to write (``speak -o``, ``image -o``): a new file's
#: name, read as UTF-8 text, could not be encoded back under the C locale's ASCII
_OUTPUT_OPTIONS = ("-o", "--output", "--out-dir")


def _as_utf8(argv: Sequence[str]) -> list[str]:
    """``argv``, each argument as the UTF-8 text its bytes are when Python decoded it
    with another codec (the C locale's ASCII leaves each byte of ``é`` a lone
    surrogate): as typed in a UTF-8 terminal. A file's name is kept as it came (the
    system takes those bytes back): one that exists, or the value of an option
    naming a file to write (``-o KEY=VALUE`` of ``prompt`` is text); so is text that
    is not UTF-8 either (:func:`_check_utf8` refuses it)."""
    if sys.getfilesystemencoding().lower().replace("-", "") == "utf8":
        return list(argv)
    fixed = []
    for i, arg in enumerate(argv):
        before = argv[i - 1] if i else ""
        fixed.append(arg if before in _OUTPUT_OPTIONS and "=" not in arg else _text(arg))
    return fixed


def _text(arg: str) -> str:
    if arg.isascii() or arg.startswith(tuple(f"{o}=" for o in _OUTPUT_OPTIONS if o[1] == "-")):
        return arg
    try:
        text = os.fsencode(arg).decode("utf-8")
    except (UnicodeError, ValueError):
        return arg
    if text == arg or any(os.path.lexists(p) for p in (arg, arg.partition("=")[2]) if p):
        return arg
    return text


def _check_utf8(argv: Sequence[str]) -> None:
    """Refuse an argument that is not UTF-8 text, naming its place and byte, not its value.

    On POSIX Python decodes arguments with ``surrogateescape``: a Latin-1 byte slips
    through as a lone surrogate, and failed only deep inside (encoding the request,
    the call log, a SQLite query) as a traceback. An argument that names an existing
    file is a file name, taken as it is: Python gives the system back the same bytes.
    The value is not shown: it may hold a token (``--mcp-header``).
    """
    for i, arg in enumerate(argv):
        if arg.isascii():  # nearly every argument: nothing to look at
            continue
        raw = arg.encode("utf-8", "surrogateescape")
        try:
            raw.decode("utf-8")
            continue
        except UnicodeDecodeError as e:
            byte = e.start + 1
        if any(os.path.lexists(p) for p in (arg, arg.partition("=")[2]) if p):
            continue
        option = argv[i - 1] if i and argv[i - 1].startswith("-") else None
        if option is None and arg.startswith("-"):
            option = arg.partition("=")[0]  # --system=...
        what = f", the value of {option}," if option else ""
        raise InvalidRequestError(
            f"argument {i + 1}{what} is not UTF-8 text (byte {byte})",
            param="argv",
            hint="use a UTF-8 locale, or convert the text as it goes in (iconv -f LATIN1 -t UTF-8)",
        )


def _run(argv: Sequence[str] | None, plugins: tuple[object, ...]) -> int:
    from ..plugins import build_plugin_manager

    pm = build_plugin_manager(plugins)
    parser = build_parser(pm)
    typed = _as_utf8(sys.argv[1:] if argv is None else argv)
    _check_utf8(typed)
    args = parser.parse_args(typed)
    handler = getattr(args, "func", None)
    if handler is None:
        parser.print_help()
        return 0
    if sys.stdout is None and handler.__module__.startswith(f"{__package__}."):
        # relaykit prompt ... >&-: print() writes nowhere, and the answer (paid for)
        # was lost with exit 0. A plugin's command may serve without it (a gateway).
        raise InvalidRequestError(
            "stdout is closed: relaykit writes what the command gets there",
            param="stdout",
            hint="leave it open; to throw the output away, send it to > /dev/null",
        )
    if args.backend != "asyncio":  # asyncio is always there; trio may not be installed
        check_backend(args.backend, f"--backend {args.backend}")
    args.context = CliContext(pm, plugins, args.config, args.backend)
    level = verbosity(args.verbose, log_calls=getattr(args, "log_calls", False))
    try:
        with log_output(level, json_lines=args.log_json):
            if inspect.iscoroutinefunction(handler):
                result = args.context.run(handler, args)
            else:
                result = handler(args)
    except BaseException as e:
        error = _sole_exception(e)
        if isinstance(error, InvalidRequestError):
            from .typed_options import named_as_typed

            renamed = named_as_typed(error, getattr(args, COMMAND_PARSER), args, typed)
            if renamed is not None:
                raise renamed from error
        raise
    return int(result or 0)


def _sole_exception(error: BaseException) -> BaseException:
    """The exception inside (nested) single-member groups, as task groups raise them."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def _discard_stdout() -> None:
    # Python flushes stdout once more at exit; with the pipe gone that fails
    # again and prints "Exception ignored ...". Point stdout at /dev/null instead.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # not a real file (tests): nothing will be flushed to a closed pipe


def _exit_code(stop: SystemExit) -> int:
    if stop.code is None:
        return 0
    if isinstance(stop.code, int):
        return stop.code
    print(stop.code, file=sys.stderr)  # sys.exit("message") means: print it, fail
    return 1
