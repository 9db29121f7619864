"""CPU per call of relaykit-pii's redactors and the built-in secret redactors, by kind of text.

    uv run python bench/pii.py                    # every case, ~1 minute
    uv run python bench/pii.py --quick            # fewer rounds, for a smoke run
    uv run python bench/pii.py --cases prompt,chat20k --paths redact
    uv run python bench/pii.py --profile chat20k_pii --paths redact   # cProfile, no timing

Instructions per call, which the machine's load does not move (``--loop`` only
runs the calls; run it with 0 and with N calls and divide the difference by N)::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv/bin/python bench/pii.py --loop prompt:redact:3000

To measure another version (say, before a change), put its sources first::

    git archive <commit> core/src plugins | tar -x -C /tmp/before
    PYTHONPATH=$(ls -d /tmp/before/core/src /tmp/before/plugins/*/src | paste -sd:) \\
        uv run python bench/pii.py

and alternate the two runs, more than once: the machine is shared and noisy.

Cases (the texts are built here, deterministically):

- ``short``: a one-line prompt without personal data.
- ``prompt``: ``bench/observability.py``'s prompt (an email and a card number).
- ``chat20k``: ~20 KB of a chat between a user and an assistant, with the
  numbers, times and colons chat holds (list items, "3 options", "10:30"), no PII.
- ``chat20k_pii``: the same with an email, a card, a phone number, an IP
  address and an IBAN scattered through it.
- ``chat20k_keys``: ``chat20k`` talking about credentials: the words the secret
  redactor's labels and schemes need ("token", "key:", "Bearer", "basic") and
  one labelled key, at random places (the secret redactor's worst prose).
- ``digits20k``: ~20 KB of what is full of digits and is not personal data:
  code, a CSV table, log lines with timestamps, versions, hashes, order numbers
  that fail Luhn (the false-positive candidates).
- ``system``, ``user``, ``answer``: ``bench/observability.py --realistic``'s
  turn: a 1.3 KB system prompt (it says "passwords" and has one ":"), a 0.6 KB
  user message and a 1 KB answer (an email address and a card number each).

Paths (each a function of one text):

- ``redact``: ``PiiRedactor().redact``, what records, logs and spans get.
- ``outbound``: ``ReversiblePiiRedactor().redact``, the placeholders sent to a
  provider (differs from ``redact`` only in what replaces a match).
- ``secrets``: the built-in secret redactor (``relaykit.secrets.scrub``).
- ``known``: a client's ``KnownSecrets`` holding three keys.
- ``chain``: the ``RedactionChain`` a client builds with PII on (known secrets,
  secret redactor, ``PiiRedactor``), ``chain.text``, on the same text every
  call: a text the chain has seen before (a system prompt on every turn),
  which it remembers since it has a memo (texts of 128 characters or more).
- ``chain_new``: the same chain, on a new text every call (the case's text
  with a number appended): what a text seen for the first time costs.

Each (case, path) runs ``calls`` back to back per round (fewer for the long
texts, so a round takes about ``--round-ms``), timed with ``time.thread_time``;
rounds alternate over all pairs and the table shows µs per call, the median of
the rounds [lowest..highest]. This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import itertools
import pstats
import random
import statistics
import time
from collections.abc import Callable, Sequence

from observability import ANSWER, SYSTEM, USER

from relaykit.builtins import SecretRedactor
from relaykit.known_secrets import KnownSecrets
from relaykit.redaction import RedactionChain
from relaykit_pii import PiiRedactor, ReversiblePiiRedactor

PROMPT = "Summarise: my email is jane@example.com and my card is 4111 1111 1111 1111. Thanks!"
SHORT = "What is the capital of France? Answer in one word, then explain why in two sentences."

_PROSE = (
    "the model should answer with a short summary of the report and list what changed since "
    "last week in the deployment pipeline because several teams asked whether the new cache "
    "is worth its memory and how the retry policy behaves when a provider is slow or returns "
    "errors for a while so please keep it readable and mention anything surprising"
)
_WORDS = _PROSE.split()


def _chat(size: int, rng: random.Random) -> str:
    """Chat-like text: turns with role labels, sentences, list items, a few numbers and times."""
    turns: list[str] = []
    total = 0
    n = 0
    while total < size:
        role = "User" if n % 2 == 0 else "Assistant"
        sentences = []
        for _ in range(rng.randint(2, 6)):
            words = rng.choices(_WORDS, k=rng.randint(6, 18))
            if rng.random() < 0.3:
                words.insert(rng.randrange(len(words)), str(rng.randint(2, 60)))
            if rng.random() < 0.15:
                words.append(f"at {rng.randint(1, 12)}:{rng.randint(0, 59):02d}")
            sentences.append(" ".join(words).capitalize() + ".")
        body = " ".join(sentences)
        if role == "Assistant" and rng.random() < 0.4:
            items = [f"{i}. {' '.join(rng.choices(_WORDS, k=6))}" for i in range(1, 4)]
            body += "\n" + "\n".join(items)
        turn = f"{role}: {body}\n\n"
        turns.append(turn)
        total += len(turn)
        n += 1
    return "".join(turns)


_PII_VALUES = (
    "jane.doe@example.com",
    "4111 1111 1111 1111",
    "+44 20 7946 0958",
    "192.168.10.42",
    "DE89 3704 0044 0532 0130 00",
    "(415) 555-0100",
)


def _with_pii(text: str, rng: random.Random) -> str:
    """``text`` with each of :data:`_PII_VALUES` put after a space at a random place."""
    spaces = [i for i, c in enumerate(text) if c == " "]
    at = sorted(rng.sample(spaces, len(_PII_VALUES)), reverse=True)
    for i, value in zip(at, _PII_VALUES, strict=True):
        text = f"{text[: i + 1]}{value} {text[i + 1 :]}"
    return text


_KEY_WORDS = (
    "the token",
    "which key: the new one",
    "a Bearer token",
    "basic auth",
    "max_tokens=100",
    "api_key=sk-abc0123456789xyz",
)


def _with_key_words(text: str, rng: random.Random) -> str:
    """``text`` with each of :data:`_KEY_WORDS` put after a space at a random place."""
    spaces = [i for i, c in enumerate(text) if c == " "]
    at = sorted(rng.sample(spaces, len(_KEY_WORDS)), reverse=True)
    for i, words in zip(at, _KEY_WORDS, strict=True):
        text = f"{text[: i + 1]}{words} {text[i + 1 :]}"
    return text


def _digits(size: int, rng: random.Random) -> str:
    """Code, tables, logs: digits everywhere, and none of it personal data."""
    parts: list[str] = []
    total = 0
    while total < size:
        k = rng.randrange(5)
        if k == 0:  # log lines with timestamps, durations, ids
            part = "".join(
                f"2026-11-{rng.randint(1, 30):02d}T{rng.randint(0, 23):02d}:"
                f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z"
                f" INFO req={rng.randint(1, 99999)} took {rng.random() * 100:.1f} ms status=200\n"
                for _ in range(5)
            )
        elif k == 1:  # a CSV table
            part = "id,qty,price,total,updated\n" + "".join(
                f"{rng.randint(1, 9999)},{rng.randint(1, 99)},{rng.random() * 100:.2f},"
                f"{rng.random() * 1000:.2f},{rng.randint(1, 12)}/{rng.randint(1, 28)}/2026\n"
                for _ in range(6)
            )
        elif k == 2:  # code
            part = (
                f"def f{rng.randint(0, 99)}(x):\n    return x * {rng.randint(2, 999)} + "
                f"{rng.random():.6f}  # v{rng.randint(1, 9)}.{rng.randint(0, 20)}."
                f"{rng.randint(0, 9)}\n"
                f"matrix = [[{', '.join(str(rng.randint(0, 255)) for _ in range(8))}]]\n"
            )
        elif k == 3:  # hashes and long order numbers (most fail Luhn; those that pass stay)
            part = (
                f"commit {rng.getrandbits(160):040x}\n"
                f"order {rng.randint(10**13, 10**14 - 1)} shipped {rng.randint(1, 9)} items\n"
            )
        else:  # a fixed-width table of numbers
            part = "".join(
                " ".join(f"{rng.randint(0, 99999):>6}" for _ in range(8)) + "\n" for _ in range(4)
            )
        parts.append(part)
        total += len(part)
    return "".join(parts)


def cases() -> dict[str, str]:
    """The texts, by case name (the same every run)."""
    rng = random.Random(6)
    chat = _chat(20_000, rng)
    texts = {
        "short": SHORT,
        "prompt": PROMPT,
        "chat20k": chat,
        "chat20k_pii": _with_pii(chat, rng),
        "digits20k": _digits(20_000, rng),
    }
    # its own generator, so the other texts stay what they were before it was added
    texts["chat20k_keys"] = _with_key_words(chat, random.Random(7))
    texts.update(system=SYSTEM, user=f"{USER} (request 1)", answer=ANSWER)
    return texts


def _each_text_new(fn: Callable[[str], str]) -> Callable[[str], str]:
    """``fn`` on ``text`` with a new number appended each call (no two texts alike)."""
    numbers = itertools.count()
    return lambda text: fn(f"{text} {next(numbers)}")


def paths() -> dict[str, Callable[[str], str]]:
    """The functions timed, by path name."""
    known = KnownSecrets()
    for key in ("sk-proj-abcdefghijklmnop0123", "vllm-local-key-7f3a9", "Bearer tok-0123456789ab"):
        known.add(key)
    chain = RedactionChain([known, SecretRedactor(), PiiRedactor()])
    return {
        "redact": PiiRedactor().redact,
        # a bounded store, so the placeholders' memory does not grow over a run
        "outbound": ReversiblePiiRedactor(max_values=1000).redact,
        "secrets": SecretRedactor().redact,
        "known": known.redact,
        "chain": chain.text,
        "chain_new": _each_text_new(chain.text),
    }


def _calls_for(fn: Callable[[str], str], text: str, round_ms: float) -> int:
    start = time.thread_time()
    n = 0
    while time.thread_time() - start < 0.02:
        fn(text)
        n += 1
    per_call = (time.thread_time() - start) / n
    return max(1, int(round_ms / 1000 / per_call))


def measure(
    pairs: Sequence[tuple[str, str]],
    texts: dict[str, str],
    fns: dict[str, Callable[[str], str]],
    rounds: int,
    round_ms: float,
) -> dict[tuple[str, str], list[float]]:
    """µs per call of each (case, path), one value per round."""
    calls = {(c, p): _calls_for(fns[p], texts[c], round_ms) for c, p in pairs}
    gc.collect()
    gc.freeze()  # as bench/observability.py: the warm-up heap is not scanned again
    out: dict[tuple[str, str], list[float]] = {pair: [] for pair in pairs}
    for _ in range(rounds):
        for case, path in pairs:
            fn, text, n = fns[path], texts[case], calls[case, path]
            start = time.thread_time()
            for _ in range(n):
                fn(text)
            out[case, path].append((time.thread_time() - start) / n * 1e6)
    return out


def profile(
    case: str, path: str, texts: dict[str, str], fns: dict[str, Callable[[str], str]]
) -> None:
    """Where the time of one (case, path) goes, by function (cProfile, cumulative)."""
    fn, text = fns[path], texts[case]
    n = _calls_for(fn, text, 500)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        fn(text)
    prof.disable()
    print(f"{case} / {path}: {n} calls")
    pstats.Stats(prof).sort_stats("tottime").print_stats(15)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--cases",
        default="short,prompt,chat20k,chat20k_pii,chat20k_keys,digits20k,system,user,answer",
    )
    p.add_argument("--paths", default="redact,outbound,secrets,known,chain,chain_new")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--round-ms", type=float, default=150.0, help="CPU ms per (case, path) round")
    p.add_argument("--quick", action="store_true", help="3 rounds of 30 ms")
    p.add_argument("--profile", metavar="CASE", help="profile CASE on each of --paths instead")
    p.add_argument("--loop", metavar="CASE:PATH:N", help="only run PATH on CASE N times")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the bench and print a table."""
    args = parse_args(argv)
    texts, fns = cases(), paths()
    selected = args.paths.split(",")
    if args.loop:
        case, path, n = args.loop.split(":")
        fn, text = fns[path], texts[case]
        fn(text)  # the first call compiles regexes and fills caches
        for _ in range(int(n)):
            fn(text)
        return
    if args.profile:
        for path in selected:
            profile(args.profile, path, texts, fns)
        return
    if args.quick:
        args.rounds, args.round_ms = 3, 30.0
    pairs = [(c, p) for c in args.cases.split(",") for p in selected]
    results = measure(pairs, texts, fns, args.rounds, args.round_ms)
    print(f"µs per call, median [lowest..highest] of {args.rounds} rounds")
    print(f"{'case':<12} {'chars':>6} " + " ".join(f"{p:>24}" for p in selected))
    for case in args.cases.split(","):
        cells = []
        for path in selected:
            vals = results[case, path]
            cells.append(f"{statistics.median(vals):.2f} [{min(vals):.2f}..{max(vals):.2f}]")
        print(f"{case:<12} {len(texts[case]):>6} " + " ".join(f"{c:>24}" for c in cells))


if __name__ == "__main__":
    main()
