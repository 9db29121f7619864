"""A plugin implemented wrongly is a ConfigError naming the plugin and the fix.

Not a traceback from inside pluggy or the client: a plugin that fails to import,
names a hook that does not exist, takes other parameters than the hook's, raises
in a hook, or returns the wrong kind of value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit import ConfigError, hookimpl
from relaykit.plugins import build_plugin_manager
from relaykit.testing import FakePlugin

NO_STORAGE = {"storage": {"backend": "none"}}
EXPORTER_TABLE = {**NO_STORAGE, "exporters": {"mine": {}}}


def _install(site: Path, dist: str, source: str) -> None:
    """A distribution ``dist`` in ``site`` whose relaykit entry point is ``source``."""
    (site / f"{dist}_module.py").write_text(source)
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[relaykit]\n{dist} = {dist}_module\n")


def test_an_entry_point_that_fails_to_import_names_its_plugin_and_how_to_skip_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    _install(tmp_path, "rkbroken", "import rk_not_a_module\n")
    with pytest.raises(ConfigError) as e:
        build_plugin_manager(env={})
    assert "plugin 'rkbroken'" in str(e.value) and "rk_not_a_module" in str(e.value)
    assert "RELAYKIT_DISABLE_PLUGINS=rkbroken" in (e.value.hint or "")
    assert build_plugin_manager(env={"RELAYKIT_DISABLE_PLUGINS": "rkbroken"})


class Typo:
    @hookimpl
    def relaykit_provider(self) -> list[Any]:
        return []


class WrongParameters:
    @hookimpl
    def relaykit_storage(self, name: str, cfg: Any) -> None:
        return None


def test_a_misspelt_hook_names_the_plugin_and_the_hook_meant() -> None:
    with pytest.raises(ConfigError) as e:
        build_plugin_manager([Typo()], env={})
    assert "'relaykit_provider'" in str(e.value) and "Typo" in str(e.value)
    assert "did you mean 'relaykit_providers'?" in (e.value.hint or "")


def test_a_hook_with_other_parameters_names_the_plugin_and_the_hooks_own() -> None:
    with pytest.raises(ConfigError) as e:
        build_plugin_manager([WrongParameters()], env={})
    assert "WrongParameters" in str(e.value) and "cfg" in str(e.value)
    assert "relaykit_storage(name, config)" in (e.value.hint or "")


class EchoFactory:
    type = "echo"


class ProvidersNotAList:
    @hookimpl
    def relaykit_providers(self) -> Any:
        return EchoFactory  # one factory, not a list of them


class ProviderWithoutType:
    @hookimpl
    def relaykit_providers(self) -> Any:
        return [object]


class ExporterNotAList:
    @hookimpl
    def relaykit_exporters(self, config: Any) -> Any:
        return relaykit.testing.RecordingExporter()

    @hookimpl
    def relaykit_config_tables(self, config: Any) -> Any:
        return []


class ExportersRaise:
    @hookimpl
    def relaykit_exporters(self, config: Any) -> Any:
        return [config.exporters["missing"]]

    @hookimpl
    def relaykit_config_tables(self, config: Any) -> Any:
        return []


class RedactorIsAFunction:
    @hookimpl
    def relaykit_redactors(self, config: Any) -> Any:
        return [lambda text: text]


class StorageClass:
    async def write_batch(self, records: Any) -> None:
        pass

    async def aclose(self) -> None:
        pass


class StorageIsAClass:
    @hookimpl
    def relaykit_storage(self, name: str, config: Any) -> Any:
        return StorageClass if name == "mine" else None


class SyncLimiter:
    def acquire(self, key: str, limit: Any, tokens: int) -> Any:  # not async def
        return None

    async def reconcile(self, reservation: Any, actual_tokens: int) -> None:
        pass


class LimiterIsSync:
    @hookimpl
    def relaykit_rate_limiter(self, name: str, config: Any) -> Any:
        return SyncLimiter() if name == "mine" else None


class HalfAStorage:
    async def aclose(self) -> None:
        pass


class StorageWithoutWrites:
    @hookimpl
    def relaykit_storage(self, name: str, config: Any) -> Any:
        return HalfAStorage() if name == "mine" else None


class HalfACache:
    async def cached_response(self, key: str) -> None:
        return None


class CacheWithoutWrites:
    @hookimpl
    def relaykit_response_cache(self, name: str, config: Any) -> Any:
        return HalfACache() if name == "mine" else None


MY_LIMITER = {**NO_STORAGE, "limiter": {"backend": "mine"}, "limits": {"fake/*": {"rpm": 5}}}
MY_CACHE = {**NO_STORAGE, "cache": {"enabled": True, "backend": "mine"}}


class ConfigTablesAString:
    @hookimpl
    def relaykit_config_tables(self, config: Any) -> Any:
        return "exporters.mine"


@pytest.mark.parametrize(
    ("plugin", "config", "problem", "fix"),
    [
        (ProvidersNotAList(), NO_STORAGE, "relaykit_providers returned", "return a list"),
        (ProviderWithoutType(), NO_STORAGE, "has no `type`", "ClassVar[str]"),
        (ExporterNotAList(), NO_STORAGE, "relaykit_exporters returned", "return a list"),
        (ExportersRaise(), NO_STORAGE, "relaykit_exporters raised KeyError", "'missing'"),
        (RedactorIsAFunction(), NO_STORAGE, "has no `redact` method", "redact(text)"),
        (StorageIsAClass(), {"storage": {"backend": "mine"}}, "the class", "an instance"),
        (ConfigTablesAString(), EXPORTER_TABLE, "relaykit_config_tables returned", "a list"),
        (LimiterIsSync(), MY_LIMITER, "SyncLimiter(), whose `acquire`", "async def acquire"),
        (StorageWithoutWrites(), {"storage": {"backend": "mine"}}, "no `write_batch`", "Storage"),
        (CacheWithoutWrites(), MY_CACHE, "no `cache_response`", "CacheStore"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str | dict) else "",
)
def test_a_hook_returning_the_wrong_thing_names_the_plugin_and_the_fix(
    plugin: object, config: dict[str, Any], problem: str, fix: str
) -> None:
    with pytest.raises(ConfigError) as e:
        relaykit.Client(config, plugins=[FakePlugin(), plugin])
    name = type(plugin).__name__
    assert f"plugin {name!r}" in str(e.value) or name in str(e.value), str(e.value)
    assert problem in str(e.value), str(e.value)
    assert fix in f"{e.value} {e.value.hint}", e.value.hint


class MissingModule:
    @hookimpl
    def relaykit_http_client_modules(self, config: Any) -> Any:
        return ["rk_no_such_http_stack"]


@pytest.mark.anyio
async def test_a_named_http_module_that_does_not_import_names_the_plugin() -> None:
    async with relaykit.Client(NO_STORAGE, plugins=[FakePlugin(), MissingModule()]) as client:
        with pytest.raises(ConfigError) as e:
            await client.warm_up()
    assert "MissingModule" in str(e.value) and "rk_no_such_http_stack" in str(e.value)
    assert "relaykit_http_client_modules" in str(e.value)


class DictAnswers:
    type = "dicts"
    default_base_url = "http://127.0.0.1:9"
    api_key_env = None
    base_url_env = None
    requires_api_key = False
    options = ()

    def __init__(self, settings: Any, http: Any) -> None:
        pass

    async def chat(self, request: Any) -> Any:
        return {"text": "hi"}  # a vendor's JSON, not a relaykit.ChatResponse

    async def stream(self, request: Any) -> Any:
        yield relaykit.TextDelta("hi")

    async def list_models(self) -> list[Any]:
        return []

    def price(self, model: str) -> None:
        return None


class DictAnswersPlugin:
    @hookimpl
    def relaykit_providers(self) -> list[Any]:
        return [DictAnswers]


@pytest.mark.anyio
async def test_a_chat_answer_of_the_wrong_type_names_the_provider_and_the_type_due() -> None:
    async with relaykit.Client(NO_STORAGE, plugins=[DictAnswersPlugin()]) as client:
        with pytest.raises(ConfigError) as e:
            await client.chat("dicts/m", "hi")
    assert "'dicts'" in str(e.value) and "chat returned dict" in str(e.value)
    assert "relaykit.ChatResponse" in (e.value.hint or "")


class ForgetsToReturn:
    def redact(self, text: str) -> Any:
        text.replace("secret", "[X]")  # the result dropped: returns None


class ForgetfulRedactorPlugin:
    @hookimpl
    def relaykit_redactors(self, config: Any) -> list[Any]:
        return [ForgetsToReturn()]


@pytest.mark.anyio
async def test_a_redactor_that_returns_no_text_is_named() -> None:
    plugins = [FakePlugin(), relaykit.testing.RecordingExporter(), ForgetfulRedactorPlugin()]
    async with relaykit.Client(NO_STORAGE, plugins=plugins) as client:
        with pytest.raises(ConfigError) as e:
            await client.chat("fake/m", "hello")
    assert "ForgetsToReturn" in str(e.value) and "returned NoneType" in str(e.value)
    assert "return the text" in (e.value.hint or "")


class ExportersAsAGenerator:
    def __init__(self) -> None:
        self.exporter = relaykit.testing.RecordingExporter()

    @hookimpl
    def relaykit_exporters(self, config: Any) -> Any:
        return (e for e in [self.exporter])  # any iterable, as before; not only a list

    @hookimpl
    def relaykit_config_tables(self, config: Any) -> Any:
        return {"exporters.mine"}


@pytest.mark.anyio
async def test_a_hook_may_return_any_iterable_of_its_items() -> None:
    plugin = ExportersAsAGenerator()
    async with relaykit.Client(EXPORTER_TABLE, plugins=[FakePlugin(), plugin]) as client:
        await client.chat("fake/m", "hi")
    assert len(plugin.exporter.records) == 1


class YieldsText(DictAnswers):
    type = "strings"

    async def stream(self, request: Any) -> Any:
        yield relaykit.TextDelta("a")
        yield "b"  # a plain string, not a relaykit.TextDelta


class YieldsTextPlugin:
    @hookimpl
    def relaykit_providers(self) -> list[Any]:
        return [YieldsText]


@pytest.mark.anyio
async def test_a_streamed_item_that_is_no_event_names_the_provider_and_the_fix() -> None:
    # It reached the caller's `async for` as a str (and was left out of the answer).
    exporter = relaykit.testing.RecordingExporter()
    plugins = [YieldsTextPlugin(), exporter]
    async with relaykit.Client(NO_STORAGE, plugins=plugins) as client:
        seen: list[Any] = []
        with pytest.raises(ConfigError) as e:
            async with client.stream("strings/m", "hi") as stream:
                async for event in stream:
                    seen.append(event)
    assert seen == [relaykit.TextDelta("a")]
    assert "'strings'" in str(e.value) and "stream yielded str" in str(e.value)
    assert "relaykit.TextDelta" in (e.value.hint or "")
    [record] = exporter.records
    assert record.error_type == "ConfigError"


class NoReservation:
    async def acquire(self, key: str, limit: Any, tokens: int) -> Any:
        return None  # forgot to return the Reservation

    async def reconcile(self, reservation: Any, actual_tokens: int) -> None:
        pass


class NoReservationNowait(NoReservation):
    def acquire_nowait(self, key: str, limit: Any, tokens: int) -> Any:
        return ()

    def reconcile_nowait(self, reservation: Any, actual_tokens: int) -> None:
        pass


class NoReservationPlugin:
    @hookimpl
    def relaykit_rate_limiter(self, name: str, config: Any) -> Any:
        return {"forgetful": NoReservation(), "nowait": NoReservationNowait()}.get(name)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("backend", "said"),
    [("forgetful", "acquire returned NoneType"), ("nowait", "acquire_nowait returned tuple")],
)
async def test_a_limiter_that_returns_no_reservation_is_named(backend: str, said: str) -> None:
    # It only warned, after the call, that the hold could not be settled.
    config = {
        **NO_STORAGE,
        "limiter": {"backend": backend},
        "limits": {"fake/*": {"rpm": 10}},
    }
    plugins = [FakePlugin(), NoReservationPlugin()]
    async with relaykit.Client(config, plugins=plugins) as client:
        with pytest.raises(ConfigError) as e:
            await client.chat("fake/m", "hello")
    assert "NoReservation" in str(e.value) and said in str(e.value)
    assert "relaykit.protocols.Reservation" in (e.value.hint or "")
