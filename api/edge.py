"""What every HTTP request meets before any route: a body limit, and the security headers every
response carries (:class:`LajurApp`, the app ``create_app`` makes).

- **Body limit** (FastAPI's own ``max_body_size``): a request announcing more than ``MAX_BODY_BYTES``
  is refused 413 before a byte of its body is read; one that does not announce its length (chunked)
  is cut off as soon as it has sent more. The server never buffers more than the limit, so a 200 MB
  login body costs nothing.
- **Headers**, outermost of all: ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
  ``X-Frame-Options: DENY`` and a Content-Security-Policy on every response: the strictest one
  (``default-src 'none'``) unless the response set its own (the pages do, see :data:`PAGE_CSP`).
  API answers, which may hold personal data, are not cached (``Cache-Control: no-store``) unless
  the route said otherwise.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
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


def docs_csp(inline_script_hash: str) -> str:
    """Swagger UI at ``/docs``: our own files, its one inline start-up script by hash, and the
    inline styles and data: icons it draws with."""
    return (f"default-src 'self'; script-src 'self' 'sha256-{inline_script_hash}'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class LajurApp(FastAPI):
    """FastAPI with the security headers outside everything, FastAPI's own error and body-limit
    layers included: even a 413 or a 500 they answer carries them."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


class SecurityHeaders:
    """Adds :data:`HEADERS`, a CSP and (API answers) ``Cache-Control: no-store`` to every response
    that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_api = scope.get("path", "").startswith("/api/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": _secured(list(message.get("headers", [])), is_api)}
            await send(message)

        await self.app(scope, receive, with_headers)


def _secured(headers: list[Any], is_api: bool) -> list[Any]:
    names = {name.lower() for name, _ in headers}
    out = list(headers)
    out.extend((k, v) for k, v in HEADERS if k not in names)
    if b"content-security-policy" not in names:
        out.append((b"content-security-policy", API_CSP.encode()))
    if is_api and b"cache-control" not in names:
        out.append((b"cache-control", b"no-store"))
    return out
