"""Check a SigV4-signed request as AWS would: scope, date, signed headers, and the signature.

The signature is recomputed with botocore's signer from the known test secret
over the request exactly as the server received it, so a client that signs a
different URL, body or header set than it sends is caught.
"""

from __future__ import annotations

import datetime
import re
from urllib.parse import urlencode

import attrs

from relaykit.testing.loopback import Request

_AUTH_RE = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<akid>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/"
    r"(?P<service>[a-z0-9-]+)/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})"
)
_INVALID_TOKEN = "The security token included in the request is invalid."
#: How far X-Amz-Date may be from the server's clock, as AWS allows.
MAX_SKEW = 300


@attrs.frozen
class Denial:
    """Why a request was refused: the AWS error name and its message."""

    kind: str
    message: str


class SigV4Verifier:
    """Verifies ``Authorization: AWS4-HMAC-SHA256 ...`` against one set of test credentials."""

    def __init__(
        self, access_key: str, secret_key: str, session_token: str | None, region: str, service: str
    ) -> None:
        self.access_key = access_key
        self.region = region
        self.service = service
        self.session_token = session_token
        # botocore is slow to import: do it here, not on the server's event loop.
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        self._aws_request = AWSRequest
        self._signer = SigV4Auth(
            Credentials(access_key, secret_key, session_token), service, region
        )

    def check(self, request: Request, authorization: str) -> Denial | None:
        """``None`` when the request is correctly signed, else why not."""
        m = _AUTH_RE.fullmatch(authorization)
        if m is None:
            return Denial(
                "IncompleteSignatureException", f"malformed Authorization {authorization[:40]!r}"
            )
        if m["akid"] != self.access_key:
            return Denial("UnrecognizedClientException", _INVALID_TOKEN)
        signed = m["signed"].split(";")
        if self.session_token is not None and (
            request.headers.get("x-amz-security-token") != self.session_token
            or "x-amz-security-token" not in signed
        ):
            return Denial("UnrecognizedClientException", _INVALID_TOKEN)
        amz_date = request.headers.get("x-amz-date", "")
        problems = []
        if m["region"] != self.region:
            problems.append(
                f"Credential should be scoped to region {self.region!r}, not {m['region']!r}"
            )
        if m["service"] != self.service:
            problems.append(
                f"Credential should be scoped to service {self.service!r}, not {m['service']!r}"
            )
        if not amz_date.startswith(m["date"]):
            problems.append("Date in Credential scope does not match YYYYMMDD from X-Amz-Date")
        if not {"host", "x-amz-date"} <= set(signed):
            problems.append("SignedHeaders must include host and x-amz-date")
        if problems:
            return Denial("InvalidSignatureException", "; ".join(problems))
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.UTC
            )
        except ValueError:
            return Denial("IncompleteSignatureException", "X-Amz-Date is malformed")
        if abs((datetime.datetime.now(datetime.UTC) - when).total_seconds()) > MAX_SKEW:
            return Denial("InvalidSignatureException", "Signature expired")
        if m["signature"] != self.signature(request, signed, amz_date):
            return Denial(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method.",
            )
        return None

    def signature(self, request: Request, signed: list[str], amz_date: str) -> str:
        """The signature of ``request`` over the ``signed`` headers at ``amz_date``."""
        # the path as sent: a path prefix the mock serves under (VendorMock.path_prefix)
        # was signed with the rest
        path = request.target.partition("?")[0] or request.path
        url = f"http://{request.headers.get('host', '')}{path}"
        if request.query:
            url += "?" + urlencode(request.query)
        headers = {name: request.headers.get(name, "") for name in signed}
        req = self._aws_request(method=request.method, url=url, data=request.body, headers=headers)
        req.context["timestamp"] = amz_date
        signer = self._signer
        return str(signer.signature(signer.string_to_sign(req, signer.canonical_request(req)), req))
