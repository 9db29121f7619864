"""RedactionChain: what it does to messages, and its per-call chain."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from relaykit.known_secrets import KnownSecrets
from relaykit.messages import ImagePart, Message, TextPart, ToolCall, ToolResultPart
from relaykit.redaction import RedactionChain


class Masker:
    """Replaces "jane" with "[NAME]" and counts the texts it sees."""

    def __init__(self) -> None:
        self.seen = 0

    def redact(self, text: str) -> str:
        self.seen += 1
        return text.replace("jane", "[NAME]")


def test_a_one_text_message_is_redacted_or_returned_as_it_is() -> None:
    chain = RedactionChain([Masker()])
    clean = Message.user("nothing to hide")
    assert chain.message(clean) is clean
    assert chain.message(Message.user("I am jane")) == Message.user("I am [NAME]")
    assert chain.message(Message.system("jane")) == Message.system("[NAME]")


def test_every_part_of_a_message_with_several_is_redacted() -> None:
    chain = RedactionChain([Masker()])
    image = ImagePart(url="https://example.com/jane.png")
    call = ToolCall("c1", "lookup", {"who": "jane", "n": 1}, raw_arguments='{"who": "jane"}')
    message = Message("user", (TextPart("hi jane"), image, ToolResultPart("c1", "jane's file")))
    assert chain.message(message) == Message(
        "user", (TextPart("hi [NAME]"), image, ToolResultPart("c1", "[NAME]'s file"))
    )
    turn = Message.assistant("calling", [call])
    assert chain.message(turn) == Message.assistant(
        "calling",
        [ToolCall("c1", "lookup", {"who": "[NAME]", "n": 1}, raw_arguments='{"who": "[NAME]"}')],
    )
    clean = Message("user", (TextPart("hi"), image, ToolResultPart("c1", "done")))
    assert chain.message(clean) is clean


def test_a_calls_chain_redacts_each_distinct_text_once() -> None:
    masker = Masker()
    chain = RedactionChain([masker])
    for_call = chain.for_call()
    assert [for_call.text(t) for t in ("jane", "jane", "bob", "jane")] == [
        "[NAME]",
        "[NAME]",
        "bob",
        "[NAME]",
    ]
    assert for_call.message(Message.user("jane")) == Message.user("[NAME]")
    assert masker.seen == 2
    # Another call's chain (and the chain itself) redacts afresh.
    assert chain.for_call().text("jane") == "[NAME]"
    assert chain.text("jane") == "[NAME]"
    assert masker.seen == 4


def test_a_calls_chain_masks_a_key_the_client_learns_while_the_call_runs() -> None:
    # A provider adds the key it resolved when the call first builds it, after
    # the span has redacted the prompt: the record, redacted later from what the
    # call's chain remembers, must mask it.
    known, masker = KnownSecrets(), Masker()
    for_call = RedactionChain([known, masker]).for_call()
    prompt = "jane's key is local-key-1234567890"
    assert for_call.text(prompt) == "[NAME]'s key is local-key-1234567890"
    known.add("local-key-1234567890")
    assert for_call.text(prompt) == "[NAME]'s key is [REDACTED]"
    assert for_call.text(prompt) == "[NAME]'s key is [REDACTED]"
    assert masker.seen == 2


class WordList:
    """A plugin's redactor whose words are loaded again while the client runs."""

    def __init__(self, *words: str, pure: bool) -> None:
        self.words = words
        self.pure = pure
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, forget: Callable[[], None]) -> None:
        self._listeners.append(forget)

    def load(self, *words: str) -> None:
        self.words = words
        for forget in self._listeners:
            forget()

    def redact(self, text: str) -> str:
        for word in self.words:
            text = text.replace(word, "[WORD]")
        return text


@pytest.mark.parametrize("pure", [True, False])
def test_a_calls_chain_forgets_when_any_redactor_says_its_values_changed(pure: bool) -> None:
    # Not only the client's own keys: a plugin's word list loaded again while a
    # call runs reaches the rest of that call's content (its record, its span).
    words = WordList("acme", pure=pure)
    chain = RedactionChain([KnownSecrets(), words])
    for_call = chain.for_call()
    text = "acme buys initech " * 10  # long enough for the chain's memo too
    assert for_call.text(text).count("[WORD]") == 10
    words.load("acme", "initech")
    assert for_call.text(text).count("[WORD]") == 20
    assert chain.for_call().text(text).count("[WORD]") == 20
    assert chain.text(text).count("[WORD]") == 20


class PureMasker(Masker):
    """A :class:`Masker` that declares its result depends on the text alone."""

    pure = True


LONG = "You are jane's assistant. " * 10  # a system prompt: long enough to be remembered


def test_a_text_seen_again_is_not_redacted_again() -> None:
    masker = PureMasker()
    chain = RedactionChain([masker])
    results = [chain.text(LONG) for _ in range(5)]
    assert results == [LONG.replace("jane", "[NAME]")] * 5
    assert masker.seen == 1
    # equal text, another string object: the same entry
    assert chain.text("".join(list(LONG))) == results[0]
    assert masker.seen == 1


def test_a_chats_resent_turns_are_redacted_once() -> None:
    # Each turn of a chat resends the earlier ones: every text is redacted on
    # its first sight only (it was twice, the second sight being the next turn).
    masker = PureMasker()
    chain = RedactionChain([masker])
    turns = [f"{LONG} turn {i}" for i in range(6)]
    for i in range(len(turns)):
        for text in [LONG, *turns[: i + 1]]:
            chain.text(text)
    assert masker.seen == 1 + len(turns)


def test_one_off_texts_do_not_push_out_a_text_that_repeats() -> None:
    masker = PureMasker()
    chars = 64 * len(LONG)  # room for ~7 recent results, ~28 remembered texts
    chain = RedactionChain([masker], memo_chars=chars)
    chain.text(LONG)
    chain.text(LONG)  # seen twice: remembered
    for i in range(200):
        chain.text(f"{i:06d} {LONG}")  # each once
    seen = masker.seen
    assert chain.text(LONG) == LONG.replace("jane", "[NAME]")
    assert masker.seen == seen
    # the oldest one-off went out of the recent ones
    chain.text(f"{0:06d} {LONG}")
    assert masker.seen == seen + 1


def test_many_chats_at_once_have_each_text_redacted_once() -> None:
    # 200 chats taking turns, each resending its last ten exchanges (~1 KB
    # messages): the default memo holds them all, so each turn redacts its
    # new user message and answer only. With less room, histories come back
    # to the redactors; with none, every text does, every turn.
    def turns(memo_chars: int | None) -> float:
        masker = PureMasker()
        chain = (
            RedactionChain([masker])
            if memo_chars is None
            else RedactionChain([masker], memo_chars=memo_chars)
        )
        history: dict[int, list[str]] = {chat: [] for chat in range(200)}
        for turn in range(12):
            if turn == 11:
                masker.seen = 0
            for chat, past in history.items():
                user = f"{'jane writes. ' * 50}{chat} {turn}"  # ~600 characters
                for text in [LONG, *past[-20:], user]:
                    chain.text(text)
                answer = f"{'the answer. ' * 80}{chat} {turn}"  # ~900 characters
                chain.text(answer)
                past += [user, answer]
        return masker.seen / len(history)

    assert turns(None) == 2
    assert turns(2**20) > 10
    assert turns(0) == 23


def test_memo_chars_bound_what_the_memo_holds() -> None:
    from relaykit.redaction import MEMO_MAX_TEXT

    masker = PureMasker()
    chars = 200 * len(LONG)
    chain = RedactionChain([masker], memo_chars=chars)
    texts = [f"{i:06d} {LONG}" for i in range(600)]
    for text in texts:
        chain.text(text)
        chain.text(text)
    memo = chain.memo_size()
    assert 0 < memo.chars <= chars
    # the newest are kept, the oldest went first
    seen = masker.seen
    chain.text(texts[-1])
    chain.text(texts[0])
    assert masker.seen == seen + 1

    big = [f"{i:06d}" + "jane " * (MEMO_MAX_TEXT // 5 - 2) for i in range(40)]
    chain = RedactionChain([masker], memo_chars=20 * MEMO_MAX_TEXT)
    for text in big:
        chain.text(text)
        chain.text(text)
    memo = chain.memo_size()
    assert 0 < memo.chars <= 20 * MEMO_MAX_TEXT
    assert memo.entries < 20


def test_a_remembered_message_is_built_once() -> None:
    # A chat's history comes back every turn: the redacted message is reused,
    # one per role, and equal to one built afresh.
    chain = RedactionChain([PureMasker()])
    turns = [chain.message(Message.user("".join(list(LONG)))) for _ in range(3)]
    assert turns[0] == Message.user(LONG.replace("jane", "[NAME]"))
    assert turns[1] is turns[0] and turns[2] is turns[0]
    assistant = chain.message(Message.assistant(LONG))
    assert assistant.role == "assistant" and assistant.text == turns[0].text
    assert chain.for_call().message(Message.user(LONG)) is turns[0]
    # without a memo, nothing is kept: equal messages, built each time
    off = RedactionChain([PureMasker()], memo_chars=0)
    first, second = (off.message(Message.user(LONG)) for _ in range(2))
    assert first == second and first is not second


def test_the_built_messages_stay_within_their_share_of_the_memo() -> None:
    chain = RedactionChain([PureMasker()], memo_chars=8 * 10 * len(LONG))
    for i in range(100):
        chain.message(Message.user(f"{i:04d} {LONG}"))
    assert chain._messages._chars <= 10 * len(LONG)
    assert len(chain._messages._built) <= 10


def test_a_text_bigger_than_the_memo_is_not_kept() -> None:
    masker = PureMasker()
    chain = RedactionChain([masker], memo_chars=len(LONG))
    for _ in range(3):
        assert chain.text(LONG * 2) == (LONG * 2).replace("jane", "[NAME]")
    assert masker.seen == 3
    assert chain.memo_size() == (0, 0)


def test_memo_chars_0_remembers_nothing() -> None:
    masker = PureMasker()
    chain = RedactionChain([masker], memo_chars=0)
    for _ in range(3):
        assert chain.text(LONG) == LONG.replace("jane", "[NAME]")
    assert masker.seen == 3
    assert chain.memo_size() == (0, 0)


def test_a_text_seen_once_is_not_held() -> None:
    # What the redactors made of it is, keyed by its digest: a one-off prompt
    # (and a secret or a name in it) does not stay in memory. A text seen
    # again is held, to be found by a look-up without a digest.
    from relaykit.builtins import SecretRedactor
    from relaykit.redaction import _Memo

    chain = RedactionChain([PureMasker(), SecretRedactor()])
    texts = [f"{LONG} {i} password=hunter2hunter2" for i in range(3)]
    for text in texts:
        chain.text(text)
    (memo,) = [step for step in chain._redacts if isinstance(step, _Memo)]
    assert not memo._done
    assert len(memo._recent) == chain.memo_size().entries == 3
    for key, result in memo._recent.items():
        assert isinstance(key, int) and key.bit_length() <= 128  # two keyed hashes
        assert "jane" not in result and "hunter2" not in result
    chain.text(texts[0])
    assert list(memo._done) == [texts[0]]
    assert len(memo._recent) == 2


def test_a_remembered_result_is_what_a_fresh_redaction_gives() -> None:
    from relaykit.builtins import SecretRedactor

    texts = [
        LONG,
        LONG + " api_key=abcdefgh12345678",
        LONG + " Bearer abcdefgh12345678 and sk-proj-" + "x" * 24,
        LONG.replace("jane", "bob"),
    ]
    chain = RedactionChain([PureMasker(), SecretRedactor()])
    fresh = RedactionChain([Masker(), SecretRedactor()])  # not pure: never remembered
    for _ in range(3):
        assert [chain.text(t) for t in texts] == [fresh.text(t) for t in texts]
    assert "abcdefgh12345678" not in "".join(chain.text(t) for t in texts)


def test_short_and_huge_texts_are_not_remembered() -> None:
    from relaykit.redaction import MEMO_MAX_TEXT, MEMO_MIN_TEXT

    masker = PureMasker()
    chain = RedactionChain([masker])
    for text in ("jane", "j" * (MEMO_MIN_TEXT - 1), "jane " * (MEMO_MAX_TEXT // 5 + 1)):
        for _ in range(3):
            chain.text(text)
    assert masker.seen == 9


def test_redactors_that_are_not_pure_run_on_every_text() -> None:
    # A reversible redactor keeps what it replaced for restore(): it must see
    # every text, even one a pure redactor after it would remember.
    class Reversible(PureMasker):
        def restore(self, text: str) -> str:
            return text.replace("[NAME]", "jane")

    plain, reversible, pure = Masker(), Reversible(), PureMasker()
    chain = RedactionChain([plain, reversible, pure])
    for _ in range(4):
        chain.text(LONG)
    assert (plain.seen, reversible.seen, pure.seen) == (4, 4, 1)


def test_each_chain_remembers_for_itself() -> None:
    # A client with another configuration builds another chain: nothing of
    # what this one remembers is used there.
    class Upper(PureMasker):
        def redact(self, text: str) -> str:
            self.seen += 1
            return text.upper()

    first, second = PureMasker(), Upper()
    a, b = RedactionChain([first]), RedactionChain([second])
    for _ in range(3):
        assert a.text(LONG) == LONG.replace("jane", "[NAME]")
        assert b.text(LONG) == LONG.upper()
    assert (first.seen, second.seen) == (1, 1)


def test_known_secrets_added_later_are_masked_in_remembered_text() -> None:
    # The client's known secrets grow while it runs: the memo forgets what it
    # remembered when they change, so a remembered result never brings a key back.
    known, masker = KnownSecrets(), PureMasker()
    chain = RedactionChain([known, masker])
    prompt = LONG + " the key is local-key-1234567890"
    for _ in range(3):
        assert "local-key-1234567890" in chain.text(prompt)
    known.add("local-key-1234567890")
    for _ in range(3):
        out = chain.text(prompt)
        assert "local-key-1234567890" not in out
        assert out.endswith("the key is [REDACTED]")
    # a value dropped (a minted token long replaced) is no longer masked either
    known.discard("local-key-1234567890")
    assert chain.text(prompt).endswith("the key is local-key-1234567890")


class CountingKnown(KnownSecrets):
    """The client's known secrets, counting the texts scanned for them."""

    def __init__(self) -> None:
        super().__init__()
        self.scanned = 0

    def redact(self, text: str) -> str:
        self.scanned += 1
        return super().redact(text)


def test_a_remembered_text_is_not_scanned_for_known_secrets_again() -> None:
    # A chat resends its history every turn: each message is scanned for the
    # client's keys once, not on every turn (they are remembered with the other
    # pure redactors' results, until the keys change).
    known, masker = CountingKnown(), PureMasker()
    known.add("local-key-1234567890")
    chain = RedactionChain([known, masker])
    for _ in range(5):
        assert chain.text(LONG) == LONG.replace("jane", "[NAME]")
    assert (known.scanned, masker.seen) == (1, 1)
    known.add("another-key-0987654321")
    assert chain.text(LONG) == LONG.replace("jane", "[NAME]")
    assert (known.scanned, masker.seen) == (2, 2)


def test_a_result_worked_out_while_the_known_secrets_changed_is_not_kept() -> None:
    # Another thread adds a key while this one redacts a text with the old set:
    # that result may miss the key, so it is not remembered.
    known = KnownSecrets()
    key = "local-key-1234567890"

    class AddsAKeyMeanwhile(PureMasker):
        def redact(self, text: str) -> str:
            if self.seen == 0:
                known.add(key)
            return super().redact(text)

    masker = AddsAKeyMeanwhile()
    chain = RedactionChain([known, masker])
    prompt = f"{LONG} the key is {key}"
    assert chain.text(prompt).endswith(key)  # redacted with the set as it was
    for _ in range(3):
        assert chain.text(prompt).endswith("the key is [REDACTED]")


def test_the_memo_shows_no_text() -> None:
    chain = RedactionChain([PureMasker()])
    secret = LONG + " password=hunter2hunter2"
    for _ in range(3):
        chain.text(secret)
    for shown in (repr(chain), str(chain), repr(chain.memo_size())):
        assert "hunter2" not in shown
        assert "jane" not in shown


def test_a_memo_shared_by_threads_stays_consistent() -> None:
    import threading

    masker = PureMasker()
    chain = RedactionChain([masker])
    texts = [f"{i:04d} {LONG}" for i in range(600)]
    expected = [t.replace("jane", "[NAME]") for t in texts]
    failures: list[int] = []

    def work(offset: int) -> None:
        for round_ in range(3):
            for i in range(len(texts)):
                j = (i * 7 + offset + round_) % len(texts)
                if chain.text(texts[j]) != expected[j]:
                    failures.append(j)

    threads = [threading.Thread(target=work, args=(k * 13,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    from relaykit.redaction import MEMO_CHARS

    assert chain.memo_size().chars <= MEMO_CHARS


def test_a_calls_chain_uses_what_the_client_chain_remembers() -> None:
    masker = PureMasker()
    chain = RedactionChain([KnownSecrets(), masker])
    chain.text(LONG)
    chain.text(LONG)
    assert masker.seen == 1
    for_call = chain.for_call()
    assert for_call.text(LONG) == LONG.replace("jane", "[NAME]")
    assert masker.seen == 1


def test_a_text_the_redactors_leave_alone_is_not_held_either() -> None:
    from relaykit.redaction import _Memo

    masker = PureMasker()
    chain = RedactionChain([masker])
    clean = "nothing to hide here. " * 10
    assert chain.text(clean) == clean
    (memo,) = [step for step in chain._redacts if isinstance(step, _Memo)]
    assert clean not in memo._recent.values()
    assert chain.text("".join(list(clean))) == clean  # from the recent results
    assert chain.text(clean) == clean  # remembered
    assert masker.seen == 1


def test_a_redactor_that_empties_a_text_is_remembered_as_empty() -> None:
    # An empty result is a result, not "left as it was": the text never comes back.
    class Eraser(PureMasker):
        def redact(self, text: str) -> str:
            self.seen += 1
            return ""

    eraser = Eraser()
    chain = RedactionChain([eraser])
    assert [chain.text(LONG) for _ in range(3)] == ["", "", ""]
    assert eraser.seen == 1


# Texts of a few kinds: changed by the masker ("jane"), left alone, emptied
# ("erase"), long enough to be remembered or not, sharing prefixes.
_WORDS = st.sampled_from(["jane", "bob", "erase", "hello", "x" * 40, "jane and bob"])
_TEXTS = st.lists(_WORDS, min_size=1, max_size=12).map(" ".join)


class _Shaper(PureMasker):
    """Masks "jane", empties texts holding "erase", leaves the rest."""

    def redact(self, text: str) -> str:
        self.seen += 1
        return "" if "erase" in text else text.replace("jane", "[NAME]")


@given(
    texts=st.lists(st.tuples(_TEXTS, st.integers(0, 3)), min_size=1, max_size=60),
    memo_chars=st.sampled_from([0, 100, 400, 1_000, 5_000, 100_000]),
)
def test_the_memo_never_changes_what_a_text_becomes_and_stays_in_bounds(
    texts: list[tuple[str, int]], memo_chars: int
) -> None:
    # Whatever the order, the repeats and the room, a chain with a memo gives
    # each text what the redactors give it, and holds at most its characters.
    shaper = _Shaper()
    chain = RedactionChain([shaper], memo_chars=memo_chars)
    fresh = _Shaper()
    for base, padding in texts:
        text = base + " pad" * (padding * 40)  # some under MEMO_MIN_TEXT, some over
        assert chain.text(text) == fresh.redact(text)
        assert chain.memo_size().chars <= memo_chars


_KEYS = ("key-for-jane-000", "bob-key-11111111", "jane-and-bob-key-2222")
# a few texts, so that they come again: holding no key, one key, keys inside keys
_KEYED_TEXTS = st.sampled_from(
    [
        "hello jane " + "x" * 140,
        "jane's key-for-jane-000 " + "y" * 140,
        "keys: bob-key-11111111 and jane-and-bob-key-2222 " + "z" * 100,
        "short bob-key-11111111",  # too short to be remembered
    ]
)


@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("text"), _KEYED_TEXTS),
            st.tuples(st.sampled_from(["add", "discard"]), st.sampled_from(_KEYS)),
        ),
        min_size=1,
        max_size=60,
    ),
    memo_chars=st.sampled_from([0, 400, 5_000, 100_000]),
)
@example(  # seen, then its key learnt, then seen again (recent), then remembered
    steps=[
        ("text", "jane's key-for-jane-000 " + "y" * 140),
        ("add", "key-for-jane-000"),
        ("text", "jane's key-for-jane-000 " + "y" * 140),
        ("text", "jane's key-for-jane-000 " + "y" * 140),
        ("discard", "key-for-jane-000"),
        ("text", "jane's key-for-jane-000 " + "y" * 140),
    ],
    memo_chars=100_000,
)
@settings(max_examples=300)
def test_the_memo_gives_what_the_known_secrets_of_the_moment_give(
    steps: list[tuple[str, str]], memo_chars: int
) -> None:
    # Keys come and go between the lookups (providers built, tokens minted and
    # dropped): a chain with a memo gives each text what the known secrets and
    # the redactors give it at that moment, never a result from before a change.
    known, fresh_known = KnownSecrets(), KnownSecrets()
    chain = RedactionChain([known, _Shaper()], memo_chars=memo_chars)
    fresh = _Shaper()
    for action, value in steps:
        if action == "text":
            text = "".join(list(value))  # a new string each time, as a request brings
            assert chain.text(text) == fresh.redact(fresh_known.redact(text))
        else:
            for k in (known, fresh_known):
                getattr(k, action)(value)


def test_recent_results_are_told_apart_by_keys_of_each_whole_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Texts that differ in one character at either end, or by a NUL in front, get keys
    of their own, with keyed hashes and with SHA-256 (where hash() is not SipHash)."""
    from relaykit import redaction

    base = "jane wrote: " + "x" * 200
    texts = [base, "J" + base[1:], base[:-1] + "y", "\0" + base, base + "\0"]
    for keyed in (True, False):
        monkeypatch.setattr(redaction, "_KEYED_HASH", keyed)
        keys = [redaction._digest(t) for t in texts]
        assert len(set(keys)) == len(texts)
        assert all(isinstance(k, int if keyed else bytes) for k in keys)
        assert keys == [redaction._digest("".join(list(t))) for t in texts]  # copies alike
        masker = PureMasker()
        chain = RedactionChain([masker])
        expected = [t.replace("jane", "[NAME]") for t in texts]
        for _ in range(2):  # seen once (recent results), then again
            assert [chain.text("".join(list(t))) for t in texts] == expected
        assert masker.seen == len(texts)


@pytest.mark.parametrize(("seed", "keyed"), [(None, True), ("random", True), ("0", False)])
def test_a_known_hash_seed_keys_recent_results_with_sha256(seed: str | None, keyed: bool) -> None:
    """PYTHONHASHSEED set to a number makes SipHash's key known: the memo's keys are
    then SHA-256 digests, which no one can make two texts share."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    if seed is not None:
        env["PYTHONHASHSEED"] = seed
    out = subprocess.run(
        [sys.executable, "-c", "from relaykit import redaction; print(redaction._KEYED_HASH)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == str(keyed)


def test_names_in_json_values_are_redacted_and_none_is_lost() -> None:
    """A metadata name or a tool call's argument name can hold a secret as a value
    can; two names redacted alike keep both their values."""
    chain = RedactionChain([Masker()])
    value = {"by jane": {"jane": [1, {"to jane": "jane"}]}, "[NAME]": 2, "ok": 3}
    assert chain.value(value) == {
        "by [NAME]": {"[NAME]": [1, {"to [NAME]": "[NAME]"}]},
        "[NAME]": 2,
        "ok": 3,
    }
    assert chain.value({"jane": 1, "[NAME]": 2, "[NAME] (2)": 3}) == {
        "[NAME] (3)": 1,
        "[NAME]": 2,
        "[NAME] (2)": 3,
    }
    assert chain.value({1: "jane"}) == {1: "[NAME]"}  # non-string names stay
