"""Where Bedrock's ``cachePoint`` blocks go: right after the blocks whose prefix they end.

Bedrock reads a request's prompt in one order, ``toolConfig.tools``, then
``system``, then ``messages``, and a cache point caches everything before it in
that order. The wire module tells :class:`CachePoints` of every block as it
writes it, into whichever of those lists, so a cache point can be placed after
the last block written even when that block is in an earlier list.
"""

from __future__ import annotations

from typing import Any

from relaykit import CachePoint

Block = dict[str, Any]


def cache_point_block(point: CachePoint) -> Block:
    """Bedrock's ``cachePoint`` block for ``point``; ``ttl`` only when it is set."""
    spec = {"type": "default"}
    if point.ttl is not None:
        spec["ttl"] = point.ttl
    return {"cachePoint": spec}


class CachePoints:
    """The cache points of one request, placed among its blocks as they are written."""

    def __init__(self) -> None:
        # every list holding a block so far, in prompt order
        self._lists: list[list[Block]] = []

    def add(self, blocks: list[Block], block: Block) -> None:
        """Append ``block`` to ``blocks``, the list the prompt goes on in."""
        blocks.append(block)
        if not self._lists or self._lists[-1] is not blocks:
            self._lists.append(blocks)

    def mark(self, point: CachePoint) -> None:
        """End a cacheable prefix after the last block written.

        That block may be in an earlier list (the previous message, the system
        blocks, the tools): a message cannot hold only a cache point, and one
        that opens a message ends the same prefix there. Bedrock refuses a
        cache point right after a reasoning block, so it goes before the
        reasoning. One right after another is the same prefix: they become
        one, with the longer ttl. With no block before it at all, it caches
        nothing and is left out.
        """
        for blocks in reversed(self._lists):
            at = len(blocks)
            while at and "reasoningContent" in blocks[at - 1]:
                at -= 1
            if not at:  # only reasoning here: the prefix ends in an earlier list
                continue
            before = blocks[at - 1]
            if "cachePoint" not in before:
                blocks.insert(at, cache_point_block(point))
            elif point.ttl == "1h":  # "1h" outlives "5m" and the default (also 5m)
                blocks[at - 1] = cache_point_block(point)
            return
