"""What building message parts and ``coerce_messages`` cost, in ns a call: the price of
checking each part's field types when it is made and each part's role per request.

    uv run python bench/message_parts.py
    git archive BASE core | tar -x -C /tmp/base
    uv run python bench/message_parts.py --against /tmp/base/core/src/relaykit/messages.py

With ``--against``, that ``messages.py`` (an older one) is loaded beside this
checkout's, in the same process, and each case is timed on both in turn; the
figure is the best of many short runs, which a shared, loaded machine needs.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import timeit
from types import ModuleType
from typing import Any

import relaykit.messages

CASES = {
    "TextPart('hi')": "m.TextPart('hi')",
    "ImagePart(data=..., media_type=...)": "m.ImagePart(data=b'x', media_type='image/png')",
    "ImagePart(url=...)": "m.ImagePart(url='https://x')",
    "DocumentPart(data=...)": "m.DocumentPart(data=b'x')",
    "ToolCall(id, name, {})": "m.ToolCall('a', 'b', {})",
    "ToolResultPart(id, text)": "m.ToolResultPart('a', 'b')",
    "ReasoningPart(text, signature)": "m.ReasoningPart('t', 's')",
    "Message('user', (TextPart,))": "m.Message('user', TEXT)",
    "coerce_messages(4 text Messages)": "m.coerce_messages(TURNS)",
    "coerce_messages(2 plain dicts)": "m.coerce_messages(DICTS)",
    "coerce_messages(a tool call's 3 turns)": "m.coerce_messages(CALL)",
}


def _namespace(m: ModuleType) -> dict[str, Any]:
    return {
        "m": m,
        "TEXT": (m.TextPart("hi"),),
        "TURNS": [
            m.Message.system("be brief"),
            m.Message.user("hi"),
            m.Message.assistant("hello"),
            m.Message.user("again"),
        ],
        "DICTS": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "CALL": [
            m.Message.user("hi"),
            m.Message.assistant("", [m.ToolCall("c", "f", {})]),
            m.Message.tool("c", "ok"),
        ],
    }


def _load(path: str) -> ModuleType:
    # Inside the relaykit package, so its relative imports (.errors) resolve.
    spec = importlib.util.spec_from_file_location("relaykit._bench_messages", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", help="another messages.py, timed beside this one")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--number", type=int, default=5000)
    args = parser.parse_args()
    modules = {"this": relaykit.messages}
    if args.against:
        modules = {"against": _load(args.against), **modules}
    print(f"{'case':40}" + "".join(f"{name:>12}" for name in modules) + "   (ns a call)")
    for label, stmt in CASES.items():
        timers = {k: timeit.Timer(stmt, globals=_namespace(m)) for k, m in modules.items()}
        best = dict.fromkeys(modules, float("inf"))
        for _ in range(args.rounds):
            for k, t in timers.items():
                best[k] = min(best[k], t.timeit(args.number) / args.number * 1e9)
        row = "".join(f"{best[k]:12.1f}" for k in modules)
        if args.against:
            row += f"   {best['this'] - best['against']:+7.1f}"
        print(f"{label:40}{row}")


if __name__ == "__main__":
    main()
