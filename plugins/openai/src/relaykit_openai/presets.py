"""OpenAI-compatible services: each is a base URL and the variable holding its key.

Pick one by provider name (``groq/llama-3.3-70b-versatile``) or by ``type`` in
``[providers.NAME]`` for a second deployment of the same kind. Services with no
``/embeddings`` (Groq, DeepSeek, Cerebras) have no ``embed``: ``Client.embed``
refuses them with a typed error before sending anything. Reranking likewise:
only the services that serve ``/rerank`` (vLLM, Together, OpenRouter,
Fireworks) have ``rerank``; for OpenAI and the others ``Client.rerank``
refuses before sending. Speech to text likewise: Groq, Together, Mistral and
vLLM serve ``/audio/transcriptions``; the others refuse. Image generation
likewise: xAI and Together serve ``/images/generations``; the others refuse.
Image edits (``/images/edits``): xAI's, in JSON; the other presets refuse them.
Moderation: only Mistral serves ``/moderations``; the others refuse. Batches
(``/files`` and ``/batches``): only Groq; the others refuse.
Web search (``web_search=``): only OpenRouter, with its ``openrouter:web_search``
server tool (see .web_search); the others have none that relaykit sends, so the
core refuses the setting for them before sending. Documents likewise:
only OpenRouter's Chat Completions reads them; for the others a
:class:`relaykit.DocumentPart` is refused before sending. ``reasoning=`` goes as
``reasoning_effort``, as OpenRouter's ``reasoning`` object, or, for DeepSeek and
Mistral (thinking is picked by model), is refused before sending. Mistral takes
tool call ids of nine letters or digits only: other vendors' ids in the history
are mapped for it (see .tool_call_ids). DeepSeek and Mistral, as OpenAI, refuse tool
results that answer no call of the assistant message before them and calls left
without results: their presets refuse those before sending (the other services
document no such rule). Mistral takes a final assistant message only as a prefill,
``"prefix": true``, which its preset sends; and it refuses a user message right
after tool results ("Unexpected role 'user' after role 'tool'", which OpenAI and
Claude take): its preset sends a short assistant turn between them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from .api_choice import Api
from .provider import Encoding, OpenAIProvider

if TYPE_CHECKING:
    from .documents import ChatDocuments
    from .images import ImageStyle
    from .reasoning import ReasoningStyle
    from .transcription import TranscriptionStyle
    from .web_search import SearchStyle

#: services that read Anthropic-style ``cache_control`` marks (relaykit cache points)
_CACHE_CONTROL = frozenset({"openrouter"})
#: services whose Chat Completions API reads documents (see .documents): OpenRouter
#: takes OpenAI's ``file`` parts, a PDF's URL too. The others take no ``file``
#: parts (Mistral reads documents in a shape of its own), so relaykit refuses
#: a document for them before sending.
_CHAT_DOCUMENTS: dict[str, ChatDocuments] = {"openrouter": "data-or-url"}

#: services whose ``gen_ai.provider.name`` (OpenTelemetry GenAI conventions) is not
#: their name (groq and deepseek are; the others have no well-known one)
_GENAI_PROVIDER_NAMES = {"xai": "x_ai", "mistral": "mistral_ai", "bedrock-mantle": "aws.bedrock"}

# name: (base URL including /v1, key variable, key required)
_SERVICES: dict[str, tuple[str, str | None, bool]] = {
    "groq": ("https://api.groq.com/openai/v1", "GROQ_API_KEY", True),
    "xai": ("https://api.x.ai/v1", "XAI_API_KEY", True),
    "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", True),
    "deepseek": ("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", True),
    "mistral": ("https://api.mistral.ai/v1", "MISTRAL_API_KEY", True),
    "together": ("https://api.together.xyz/v1", "TOGETHER_API_KEY", True),
    "fireworks": ("https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY", True),
    "cerebras": ("https://api.cerebras.ai/v1", "CEREBRAS_API_KEY", True),
    "vllm": ("http://localhost:8000/v1", "VLLM_API_KEY", False),
    "lmstudio": ("http://localhost:1234/v1", None, False),
    "ollama-openai": ("http://localhost:11434/v1", None, False),
}

# How each service's /embeddings sends vectors back by default (the option
# embedding_encoding changes it): base64 where the service documents it, else
# float, since some servers refuse base64 (older vLLM and llama.cpp) or ignore
# it (LM Studio, Ollama). None: the service has no embeddings API.
_EMBEDDINGS: dict[str, Encoding | None] = {
    "groq": None,
    "xai": "float",
    "openrouter": "float",
    "deepseek": None,
    "mistral": "base64",
    "together": "float",
    "fireworks": "float",
    "cerebras": None,
    "vllm": "base64",
    "lmstudio": "float",
    "ollama-openai": "float",
}
#: services that rank documents at ``POST /rerank`` (see .rerank). LM Studio and
#: Ollama have no rerank API (LM Studio even answers 200 to unknown paths), nor
#: have Groq, xAI, DeepSeek, Mistral or Cerebras: their presets refuse unsent.
_RERANK = frozenset({"vllm", "together", "openrouter", "fireworks"})
#: services that transcribe audio at ``POST /audio/transcriptions`` (see
#: .transcription), and how: Groq (whisper-large-v3, whisper-large-v3-turbo) and
#: Together (openai/whisper-large-v3) answer verbose_json, vLLM json only, Mistral
#: (voxtral-mini-latest) a form of its own. Fireworks serves speech to text at
#: hosts apart from its inference API (audio-prod.api.fireworks.ai,
#: audio-turbo.api.fireworks.ai, per docs.fireworks.ai/guides/querying-asr-models),
#: OpenRouter as base64 JSON, not a form; xAI, DeepSeek, Cerebras, LM Studio and
#: Ollama have no such API. Their presets refuse unsent. The size limit is OpenAI's
#: alone: the others' depend on the account (Groq: 25 MB free, 100 MB paid).
_TRANSCRIPTION: dict[str, TranscriptionStyle] = {
    "groq": "verbose",
    "together": "verbose",
    "mistral": "mistral",
    "vllm": "json",
}
#: services that draw images at ``POST /images/generations`` (see .images), and
#: which fields they take: xAI (grok-2-image, grok-imagine-image; no size or
#: quality, "Argument not supported: size", but aspect_ratio and resolution) and
#: Together (FLUX models; width and height, steps, at most 4 images), both
#: answering base64 when asked (a URL by default). OpenRouter serves images through
#: Chat Completions (modalities ["image", "text"]), not /images; Fireworks through
#: workflow endpoints of its own (/workflows/.../text_to_image); Groq, DeepSeek,
#: Mistral, Cerebras, vLLM, LM Studio and Ollama have no image API. Their presets
#: refuse unsent.
_IMAGES: dict[str, ImageStyle] = {"xai": "xai", "together": "together"}
#: services that edit images at ``POST /images/edits``: xAI alone, in JSON, not
#: the multipart form OpenAI's SDK sends (its image editing guide: "The OpenAI
#: SDK's images.edit() method is not supported ... the xAI API requires
#: application/json"; see .images.xai_edit_body). Together edits with FLUX Kontext
#: through /images/generations and an ``image_url`` field, not /images/edits; the
#: others have no image API. Their presets refuse unsent.
_EDITS = frozenset({"xai"})
#: services that speak text at ``POST /audio/speech`` (see .speech): Groq (PlayAI's
#: playai-tts and playai-tts-arabic, then Canopy Labs' Orpheus models; voices of
#: its own, such as Arista-PlayAI). xAI's Grok TTS answers base64 JSON at an API
#: of its own; the other presets' services have no such API (or none relaykit
#: has checked: a server of your own that serves OpenAI's may use type = "openai"
#: with its base_url). Their presets refuse unsent.
_SPEECH = frozenset({"groq"})
#: services that moderate texts at ``POST /moderations`` (see .moderation): Mistral
#: (mistral-moderation-latest, in OpenAI's request shape; its guardrailing guide).
#: Groq and Together moderate through chat models (Llama Guard) instead, and the
#: others document no moderation API: their presets refuse unsent.
_MODERATION = frozenset({"mistral"})
#: services that run batches through OpenAI's Batch API (``/files`` and ``/batches``,
#: see .batches): Groq (its batch guide: the same JSONL, ``purpose=batch``, at half
#: price). Together, Mistral, xAI and Fireworks batch through APIs of their own, and
#: the others document none: their presets refuse unsent.
_BATCHES = frozenset({"groq"})
#: how each service takes ``reasoning=`` when not by ``reasoning_effort`` (see
#: .reasoning): OpenRouter's own object; DeepSeek and Mistral pick thinking by
#: model, so their presets refuse the setting unsent
_REASONING: dict[str, ReasoningStyle] = {
    "openrouter": "openrouter",
    "deepseek": "none",
    "mistral": "none",
}
#: services that search the web for ``web_search=`` (see .web_search), and how:
#: OpenRouter with its ``openrouter:web_search`` server tool, for any model. The
#: others have no search that relaykit sends (Perplexity, whose models always
#: search, has no preset): their presets do not search, and the core refuses the
#: setting unsent.
_WEB_SEARCH: dict[str, SearchStyle] = {"openrouter": "openrouter"}
#: services that refuse tool results answering no call of the assistant message
#: before them, and calls left unanswered (see .wire.check_tool_pairs): DeepSeek
#: ("Messages with role 'tool' must be a response to a preceding message with
#: 'tool_calls'") and Mistral ("Not the same number of function calls and
#: responses"). The others document no such rule (local servers fill a template).
_PAIRED_TOOL_CALLS = frozenset({"deepseek", "mistral"})
#: services that refuse a user message right after tool results (see
#: .wire.bridge_tool_results): Mistral ("Unexpected role 'user' after role 'tool'")
_ASSISTANT_AFTER_TOOLS = frozenset({"mistral"})
#: services whose /embeddings names ``dimensions`` otherwise
_DIMENSIONS_PARAM = {"mistral": "output_dimension"}
#: services whose /embeddings takes fewer texts or tokens a request than OpenAI's
#: (see .embeddings): Mistral 512 texts ("Too many inputs in request, split into
#: more batches.", code 3210; raphaelmansuy/edgequake-llm#74) and 16,384 tokens
#: ("Too many tokens overall, split into more batches.", chroma-core/chroma#5597;
#: earlier "Too many tokens in batch. Max is 16384 got ...", langchain-ai/langchain#17136)
_EMBEDDING_LIMITS = {"mistral": (512, 16_384)}


def preset(
    name: str, base_url: str, api_key_env: str | None, requires_api_key: bool
) -> type[OpenAIProvider]:
    """A provider type for an OpenAI-compatible service (one not listed here
    embeds, asking for vectors as JSON numbers, and has no rerank, no speech
    to text, no image generation or editing, no text to speech and no moderation)."""

    class Preset(OpenAIProvider):
        type: ClassVar[str] = name
        genai_provider_name: ClassVar[str] = _GENAI_PROVIDER_NAMES.get(name, name)
        default_base_url: ClassVar[str] = base_url
        base_url_env: ClassVar[str | None] = None
        max_tokens_param: ClassVar[str] = "max_tokens"
        #: compatible services speak Chat Completions; few have /responses
        api: ClassVar[Api] = "chat"
        known_models: ClassVar[dict] = {}  # type: ignore[type-arg]
        #: each service has strict rules of its own (vLLM's guided decoding takes more)
        strict_schemas: ClassVar[bool] = False

    # OpenAI's token counter is OpenAI's own: relaykit estimates for the others.
    Preset.count_tokens = None  # type: ignore[assignment,method-assign]
    encoding = _EMBEDDINGS.get(name, "float")
    if encoding is None:
        Preset.embed = None  # type: ignore[assignment,method-assign]
    else:
        Preset.embedding_encoding = encoding
    if name in _RERANK:
        Preset.rerank = OpenAIProvider._rerank  # type: ignore[assignment]
    style = _TRANSCRIPTION.get(name)
    if style is None:
        Preset.transcribe = None  # type: ignore[assignment,method-assign]
        Preset.stream_transcription = None  # type: ignore[assignment,method-assign]
    else:
        Preset.transcription_style = style
    Preset.max_transcription_body = None
    # Only OpenAI's /audio/transcriptions is known to stream events: the others'
    # streamed transcripts come whole, as one delta.
    Preset.streams_transcriptions = False
    image_style = _IMAGES.get(name)
    if image_style is None:
        Preset.generate_image = None  # type: ignore[assignment,method-assign]
    else:
        Preset.image_style = image_style
    if name not in _EDITS:
        Preset.edit_image = None  # type: ignore[assignment,method-assign]
    if name not in _SPEECH:
        Preset.speak = None  # type: ignore[assignment,method-assign]
        Preset.stream_speech = None  # type: ignore[assignment,method-assign]
    Preset.speech_limits = False  # OpenAI's model rules are OpenAI's alone
    Preset.media_rules = False
    Preset.embedding_rules = False
    Preset.sampling_rules = False  # a compatible service's model may bear any name
    Preset.responses_fields = False  # its /responses may take Chat Completions' fields
    if name not in _MODERATION:
        Preset.moderate = None  # type: ignore[assignment,method-assign]
    if name not in _BATCHES:
        Preset.submit_batch = None  # type: ignore[assignment,method-assign]
        Preset.get_batch = None  # type: ignore[assignment,method-assign]
        Preset.cancel_batch = None  # type: ignore[assignment,method-assign]
        Preset.batch_results = None  # type: ignore[assignment,method-assign]
        Preset.list_batches = None  # type: ignore[assignment,method-assign]
    Preset.dimensions_param = _DIMENSIONS_PARAM.get(name, "dimensions")
    Preset.embedding_limits = _EMBEDDING_LIMITS.get(name, OpenAIProvider.embedding_limits)
    Preset.api_key_env = api_key_env
    Preset.cache_control = name in _CACHE_CONTROL
    Preset.short_tool_ids = name == "mistral"  # nine-character tool call ids only
    Preset.paired_tool_calls = name in _PAIRED_TOOL_CALLS
    Preset.assistant_after_tools = name in _ASSISTANT_AFTER_TOOLS
    Preset.assistant_prefix = name == "mistral"  # a final assistant message: a prefill
    Preset.chat_documents = _CHAT_DOCUMENTS.get(name, "none")
    Preset.reasoning_style = _REASONING.get(name, "effort")
    Preset.web_search_style = _WEB_SEARCH.get(name, "none")
    Preset.searches_web = Preset.web_search_style != "none"
    Preset.requires_api_key = requires_api_key
    Preset.__name__ = Preset.__qualname__ = f"{name.title().replace('-', '')}Provider"
    Preset.__doc__ = f"{name}: an OpenAI-compatible service at {base_url}."
    return Preset


PRESETS: dict[str, type[OpenAIProvider]] = {
    name: preset(name, url, env, required) for name, (url, env, required) in _SERVICES.items()
}
