"""The session cookie, CSRF protection and security headers.

The session cookie is signed (itsdangerous) and holds the user id, the user's session
version (bumped by logout and password changes, which ends every older session), the
CSRF token, flash messages waiting to be shown, and after logout the language the user
chose. Nothing else about the user.
"""

import hmac
import json
import secrets
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm.core.db import SAFE_METHODS
from crm.core.errors import N_, Forbidden

SESSION_COOKIE = "crm_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def safe_next(target: str | None, default: str = "/") -> str:
    """Where to send the user after a form: a path on this site, else ``default``.
    Never another host, never a scheme-relative URL."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target:
        return default
    return target


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def renew_session(request: Request, **values: Any) -> None:
    """Replace the session with a fresh one (login): no value survives from before."""
    session = request.scope["crm_session"]
    pending_flash = session.get("flash")
    session.clear()
    session.update(values, csrf=new_csrf_token())
    if pending_flash:
        session["flash"] = pending_flash


class SessionMiddleware:
    def __init__(self, app: ASGIApp, *, secret_key: str, max_age: int) -> None:
        self.app = app
        self.max_age = max_age
        self.serializer = URLSafeTimedSerializer(secret_key, salt="crm.session")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        loaded = self._load(request.cookies.get(SESSION_COOKIE))
        original = json.dumps(loaded, sort_keys=True)
        if "csrf" not in loaded:
            loaded["csrf"] = new_csrf_token()
        scope["crm_session"] = loaded
        secure = scope.get("scheme") == "https"
        is_api = scope["path"].startswith("/api/")

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                changed = json.dumps(scope["crm_session"], sort_keys=True) != original
                if changed and not is_api:
                    headers = MutableHeaders(scope=message)
                    headers.append("Set-Cookie", self._cookie(scope["crm_session"], secure))
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _load(self, cookie: str | None) -> dict[str, Any]:
        if not cookie:
            return {}
        try:
            data = self.serializer.loads(cookie, max_age=self.max_age)
        except BadSignature:
            return {}
        return data if isinstance(data, dict) else {}

    def _cookie(self, session: dict[str, Any], secure: bool) -> str:
        value = self.serializer.dumps(session)
        parts = [
            f"{SESSION_COOKIE}={value}",
            "Path=/",
            f"Max-Age={self.max_age}",
            "HttpOnly",
            "SameSite=Lax",
        ]
        if secure:
            parts.append("Secure")
        return "; ".join(parts)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodySizeLimit:
    """Refuses a request whose declared body is larger than ``max_bytes`` before anything
    reads it, so that a huge upload is not spooled to disk first."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = Headers(scope=scope).get("content-length", "")
            if length.isdigit() and int(length) > self.max_bytes:
                limit = self.max_bytes // (1 << 20)
                response = JSONResponse(
                    {"detail": f"The request is larger than {limit} MB."}, status_code=413
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def csrf_protect(request: Request) -> None:
    """Reject unsafe HTML requests without the session's CSRF token.

    The JSON API under /api authenticates with bearer tokens, which a browser never
    sends on its own, so it needs no CSRF token.
    """
    if request.method in SAFE_METHODS or request.url.path.startswith("/api/"):
        return
    expected = request.scope["crm_session"].get("csrf", "")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            field = form.get(CSRF_FIELD)
            sent = field if isinstance(field, str) else None
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise Forbidden(
            N_(
                "Your form has expired or did not come from this site. "
                "Reload the page and try again."
            )
        )
