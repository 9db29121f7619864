"""What a Claude model's id tells, stated once for relaykit's Claude providers.

A library that relaykit-anthropic (Anthropic's API, Vertex AI, Microsoft Foundry)
and relaykit-bedrock depend on (plugins may not depend on each other), not a
plugin: it has no entry point. From a model's id it reads the Claude version and
family (:mod:`.model_names`), and from those what the model refuses or takes:
non-default sampling parameters, and ``temperature`` with ``top_p``
(:mod:`.sampling_rules`), a prefill (:mod:`.prefill_rules`), and thinking
settings (:mod:`.thinking_rules`). Each
provider reads its own wire (which body field holds the temperature, which id
form its host uses) and asks these functions; the errors they raise are
relaykit's :class:`~relaykit.InvalidRequestError`, made before sending. It
also holds the facts of the Messages API's wire that both providers read
alike: the HTTP status each of its error types stands for (:mod:`.error_types`),
that an assistant turn's thinking goes first, and the fix when Claude refuses
that thinking (:mod:`.turn_order`), and the tool call ids it takes (:mod:`.tool_ids`).
"""

from .error_types import ERROR_STATUS, ApiError, error_status, read_error
from .model_names import as_deployment, claude_family, claude_version, model_words
from .prefill_rules import FIRST_REFUSING, prefill_refusal, refuses_prefill
from .sampling_rules import (
    DEFAULT_TOP_P,
    check_sampling,
    refuses_sampling,
    refuses_sampling_pair,
    sampling_taken,
)
from .thinking_rules import (
    MIN_BUDGET,
    Claude5,
    ThinkingStyle,
    adaptive_fields,
    check_forced_tool,
    check_while_thinking,
    claude5,
    default_max_tokens,
    default_room,
    no_thinking,
    off_fields,
    thinking_budget,
    thinking_room,
    thinking_style,
)
from .tool_ids import ToolIds
from .turn_order import (
    THINKING_HINT,
    hint_thinking,
    missing_thinking_refusal,
    thinking_first,
    thinking_hint,
)

__all__ = [
    "DEFAULT_TOP_P",
    "ERROR_STATUS",
    "FIRST_REFUSING",
    "MIN_BUDGET",
    "THINKING_HINT",
    "ApiError",
    "Claude5",
    "ThinkingStyle",
    "ToolIds",
    "adaptive_fields",
    "as_deployment",
    "check_forced_tool",
    "check_sampling",
    "check_while_thinking",
    "claude5",
    "claude_family",
    "claude_version",
    "default_max_tokens",
    "default_room",
    "error_status",
    "hint_thinking",
    "missing_thinking_refusal",
    "model_words",
    "no_thinking",
    "off_fields",
    "prefill_refusal",
    "read_error",
    "refuses_prefill",
    "refuses_sampling",
    "refuses_sampling_pair",
    "sampling_taken",
    "thinking_budget",
    "thinking_first",
    "thinking_hint",
    "thinking_room",
    "thinking_style",
]
