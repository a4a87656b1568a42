"""Who is asking: the current user from the session cookie or the bearer token."""

import logging
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from crm.core import idempotency
from crm.core.db import SAFE_METHODS, SessionDep, utcnow
from crm.core.errors import N_, Forbidden, NotAuthenticated
from crm.users import service as user_service
from crm.users.models import ApiToken, Role, User, Viewer

log = logging.getLogger("crm")

# Declares the API's bearer tokens in the OpenAPI document (the /docs "Authorize" button).
bearer_scheme = HTTPBearer(auto_error=False, description="An API token from your profile.")


def _record_token_use(request: Request, session: Session, token: ApiToken) -> None:
    """Note when a token was last used. A write request does it in its own transaction,
    which holds SQLite's write lock already (a second one would wait for it to end). A
    read request does it in a transaction of its own: inside the read's transaction the
    write could fail on SQLite when another writer (an import) committed since the read
    began. Best effort: a failure must not fail the request."""
    now = utcnow()
    if not user_service.token_use_due(token, now=now):
        return
    if request.method not in SAFE_METHODS:
        user_service.record_token_use(session, token_id=token.id, now=now)
        return
    try:
        with request.app.state.write_session() as session:
            user_service.record_token_use(session, token_id=token.id, now=now)
    except OperationalError:
        log.warning("could not record the use of API token %s", token.id)


def get_current_user(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> User:
    # A page asked with a token is a program's request too (a scraper of /metrics).
    if request.url.path.startswith("/api/") or credentials is not None:
        if credentials is None or not credentials.credentials.strip():
            raise NotAuthenticated(N_("Send an API token as 'Authorization: Bearer <token>'."))
        token, user = user_service.token_for_secret(session, secret=credentials.credentials.strip())
        _record_token_use(request, session, token)
    else:
        cookie = request.scope["crm_session"]
        uid, version = cookie.get("uid"), cookie.get("ver")
        user = None
        if isinstance(uid, int) and isinstance(version, int):
            user = user_service.user_for_session(session, user_id=uid, version=version)
        if user is None:
            if uid is not None:
                cookie.pop("uid", None)
                cookie.pop("ver", None)
                raise NotAuthenticated(N_("Your session has ended. Please log in again."))
            raise NotAuthenticated(N_("Please log in."))
    request.state.user = Viewer.of(user)
    if user.language:
        request.state.language = user.language
    if user.time_zone:
        request.state.time_zone = user.time_zone
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_role(*roles: Role) -> Any:
    """A dependency that lets only users holding one of ``roles`` through."""

    async def check(user: CurrentUser) -> User:  # no I/O: no worker thread
        if not user.has_role(*roles):
            raise Forbidden(N_("You do not have permission to do this."))
        return user

    check.roles = frozenset(roles)  # read by the authorisation test's route table
    return Depends(check)


AdminUser = Annotated[User, require_role(Role.ADMIN)]


def valid_user_id(user_id: int, session: SessionDep) -> User:
    return user_service.get_user(session, user_id=user_id)


UserDep = Annotated[User, Depends(valid_user_id)]


def idempotent(
    request: Request, session: SessionDep, user: CurrentUser, key: idempotency.KeyHeader = None
) -> idempotency.Once:
    return idempotency.Once(session, request, user.id, key)


# A create that a client may retry with its Idempotency-Key.
Idempotent = Annotated[idempotency.Once, Depends(idempotent)]
