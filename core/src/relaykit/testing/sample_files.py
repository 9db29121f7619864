"""The smallest valid files of a few kinds, for requests and mock servers' answers.

Kept apart from the contract suites, which import pytest: mock servers that ship in a
plugin (``relaykit_mcp.testing``'s MCP server) use them where pytest is not installed.
"""

from __future__ import annotations

import base64

#: A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
#: The smallest PDF readers accept: one empty page (offsets in its xref are exact).
PDF = (
    b"%PDF-1.4\n"
    b"1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    b"xref\n0 4\n0000000000 65535 f \n0000000009 00000 n \n0000000052 00000 n \n"
    b"0000000101 00000 n \ntrailer<</Size 4/Root 1 0 R>>\nstartxref\n164\n%%EOF\n"
)

__all__ = ["PDF", "PNG"]
