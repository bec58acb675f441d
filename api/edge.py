"""What every HTTP request meets before any route: a body limit, and the security headers every
response carries.

Both are plain ASGI middleware, outermost in the stack, so they hold for everything the app answers
(pages, the JSON API, ``/docs``, static files, errors):

- **Body limit.** A request announcing more than ``MAX_BODY_BYTES`` is refused 413 before a byte of
  its body is read; one that does not announce its length (chunked) is cut off as soon as it has sent
  more. The server never buffers more than the limit, so a 200 MB login body costs nothing.
- **Headers.** ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
  ``X-Frame-Options: DENY`` and a Content-Security-Policy on every response: the strictest one
  (``default-src 'none'``) unless the response set its own (the pages do, see :data:`PAGE_CSP`).
  API answers, which may hold personal data, are not cached (``Cache-Control: no-store``) unless
  the route said otherwise.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1 << 20
"""1 MiB: the largest body the API takes is a few hundred bytes (an account, an action with its reason)."""

PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
"""The console, reports, technician, login and display pages: scripts, styles and pictures of our
own only, the live feed back to us."""

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""Everything else: nothing in it may run or load anything."""

HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]


class BodyTooLarge(HTTPException):
    """The client sent more than the limit: a 413 wherever it is raised (FastAPI passes an
    HTTPException raised while it reads a body through to the app's handler)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


def docs_csp(inline_script_hash: str) -> str:
    """Swagger UI at ``/docs``: our own files, its one inline start-up script by hash, and the
    inline styles and data: icons it draws with."""
    return (f"default-src 'self'; script-src 'self' 'sha256-{inline_script_hash}'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class HttpEdge:
    """The body limit and the security headers (see the module's docstring)."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            await self._too_large(scope, send)
            return
        is_api = scope.get("path", "").startswith("/api/")
        started = False
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        async def with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": _secured(list(message.get("headers", [])), is_api)}
            await send(message)

        try:
            await self.app(scope, limited_receive, with_headers)
        except BodyTooLarge:
            if started:  # a route that answered before reading all of its body: nothing to add
                return
            await self._too_large(scope, send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        body = b'{"detail": "request body larger than %d bytes", "reason": "too_large"}' % self.max_body
        headers = _secured([(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")], True)
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _secured(headers: list[Any], is_api: bool) -> list[Any]:
    names = {name.lower() for name, _ in headers}
    out = list(headers)
    out.extend((k, v) for k, v in HEADERS if k not in names)
    if b"content-security-policy" not in names:
        out.append((b"content-security-policy", API_CSP.encode()))
    if is_api and b"cache-control" not in names:
        out.append((b"cache-control", b"no-store"))
    return out
