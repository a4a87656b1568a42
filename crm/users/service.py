"""Users, passwords, login throttling and API tokens. No HTTP in here."""

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from pwdlib import PasswordHash
from sqlalchemy import delete, func, update
from sqlalchemy.orm import joinedload
from sqlmodel import Session, col, select

from crm.core import audit
from crm.core.db import utcnow
from crm.core.errors import N_, Conflict, Invalid, NotAuthenticated, NotFound, TooManyRequests
from crm.users.models import (
    ApiToken,
    LoginAttempt,
    Preferences,
    Role,
    User,
    UserCreate,
    UserRole,
    UserUpdate,
)

THROTTLE_MAX_FAILURES = 5
THROTTLE_WINDOW = timedelta(minutes=15)
THROTTLE_LOCKOUT = timedelta(minutes=15)
TOKEN_PREFIX = "crm_"  # noqa: S105 (makes tokens recognisable to secret scanners)

password_hash = PasswordHash.recommended()
# Verifying against this when the e-mail is unknown keeps both answers equally slow.
_DUMMY_HASH = password_hash.hash(secrets.token_urlsafe(16))

WRONG_LOGIN = N_("Wrong e-mail or password.")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def get_user(session: Session, *, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(N_("No such user."))
    return user


def get_user_by_email(session: Session, *, email: str) -> User | None:
    return session.exec(select(User).where(User.email == normalize_email(email))).first()


def list_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(col(User.is_active).desc(), User.name)))


def check_active_user(session: Session, user_id: int | None, *, field: str) -> None:
    """A user given in a request (an owner, an assignee) must exist and be active."""
    user = session.get(User, user_id) if user_id is not None else None
    if user is None or not user.is_active:
        raise Invalid(N_("Choose one of the offered values."), field=field)


def active_user_choices(session: Session) -> list[tuple[int, str]]:
    """(id, name) of every active user, for owner and assignee pickers: one light query."""
    query = select(User.id, User.name).where(col(User.is_active)).order_by(User.name)
    return [(row[0], row[1]) for row in session.exec(query)]


def count_users(session: Session) -> int:
    return session.exec(select(func.count()).select_from(User)).one()


def create_user(session: Session, *, data: UserCreate, password: str, actor_id: int | None) -> User:
    email = normalize_email(data.email)
    if get_user_by_email(session, email=email):
        raise Conflict(N_("A user with this e-mail address already exists."))
    user = User(
        email=email,
        name=data.name.strip(),
        language=data.language,
        password_hash=password_hash.hash(password),
        role_rows=[UserRole(role=role) for role in sorted(data.roles)],
    )
    return audit.save(
        session,
        user,
        actor_id=actor_id,
        action="user.create",
        fields=["email", "name", "roles", "language", "password"],
    )


def update_user(session: Session, *, user: User, data: UserUpdate, actor_id: int | None) -> User:
    changes = data.model_dump(exclude_unset=True)
    roles = changes.pop("roles", None)
    if "email" in changes:
        changes["email"] = normalize_email(changes["email"])
        other = get_user_by_email(session, email=changes["email"])
        if other is not None and other.id != user.id:
            raise Conflict(N_("A user with this e-mail address already exists."))
    if "name" in changes:
        changes["name"] = changes["name"].strip()
    changed = {name for name, value in changes.items() if getattr(user, name) != value}
    if roles is not None and set(roles) != user.roles:
        changed.add("roles")
    if not changed:
        return user
    if user.has_role(Role.ADMIN) and (
        changes.get("is_active") is False or (roles is not None and Role.ADMIN not in roles)
    ):
        _ensure_another_admin(session, user=user)
    user.sqlmodel_update(changes)
    if roles is not None:
        user.role_rows = [UserRole(role=role) for role in sorted(roles)]
    if changes.get("is_active") is False:
        user.session_version += 1
    user.updated_at = utcnow()
    return audit.save(session, user, actor_id=actor_id, action="user.update", fields=changed)


def _ensure_another_admin(session: Session, *, user: User) -> None:
    query = (
        select(func.count())
        .select_from(User)
        .join(UserRole)
        .where(UserRole.role == Role.ADMIN, col(User.is_active), User.id != user.id)
    )
    if session.exec(query).one() == 0:
        raise Conflict(N_("The CRM needs at least one active administrator."))


def set_password(session: Session, *, user: User, password: str, actor_id: int | None) -> User:
    """Set a new password and end every existing session of the user."""
    user.password_hash = password_hash.hash(password)
    user.session_version += 1
    user.updated_at = utcnow()
    action = "user.password_change" if actor_id == user.id else "user.password_set"
    return audit.save(session, user, actor_id=actor_id, action=action, fields=["password"])


def change_own_password(
    session: Session, *, user: User, current_password: str, new_password: str
) -> User:
    if not password_hash.verify(current_password, user.password_hash):
        raise Invalid(N_("The current password is wrong."), field="current_password")
    return set_password(session, user=user, password=new_password, actor_id=user.id)


def set_preferences(session: Session, *, user: User, data: Preferences) -> User:
    """Change what the request set; what it left out stays."""
    user.sqlmodel_update(data.model_dump(exclude_unset=True))
    user.updated_at = utcnow()
    session.add(user)
    session.flush()
    return user


def end_sessions(session: Session, *, user: User) -> None:
    """Logout: every session cookie issued to the user so far stops working."""
    user.session_version += 1
    session.add(user)
    session.flush()


def user_for_session(session: Session, *, user_id: int, version: int) -> User | None:
    # Every page asks this: the user and the roles in one query.
    user = session.get(User, user_id, options=[joinedload(User.role_rows)])
    if user is None or not user.is_active or user.session_version != version:
        return None
    return user


def email_key(email: str, *, secret_key: str) -> str:
    digest = hmac.new(secret_key.encode(), normalize_email(email).encode(), hashlib.sha256)
    return digest.hexdigest()


def throttled_until(
    session: Session, *, key: str, ip: str, now: datetime | None = None
) -> datetime | None:
    """When the lockout for this e-mail or IP ends, if one is in force.

    A lockout starts at the fifth failure within 15 minutes and lasts 15 minutes,
    counted separately for the e-mail and for the IP address.
    """
    now = now or utcnow()
    since = now - THROTTLE_WINDOW - THROTTLE_LOCKOUT
    ends = []
    for condition in (LoginAttempt.email_key == key, LoginAttempt.ip == ip):
        times = list(
            session.exec(
                select(LoginAttempt.attempted_at)
                .where(condition, LoginAttempt.attempted_at >= since)
                .order_by(LoginAttempt.attempted_at)
            )
        )
        for first, fifth in zip(times, times[THROTTLE_MAX_FAILURES - 1 :], strict=False):
            if fifth - first <= THROTTLE_WINDOW and now < fifth + THROTTLE_LOCKOUT:
                ends.append(fifth + THROTTLE_LOCKOUT)
                break
    return max(ends, default=None)


def authenticate(
    session: Session, *, email: str, password: str, ip: str, secret_key: str
) -> User | None:
    """The active user with these credentials, or None after recording the failure.

    Returning instead of raising lets the failure be committed: it must count even
    though the login did not succeed.
    """
    now = utcnow()
    key = email_key(email, secret_key=secret_key)
    locked_until = throttled_until(session, key=key, ip=ip, now=now)
    if locked_until is not None:
        minutes = max(1, round((locked_until - now).total_seconds() / 60))
        raise TooManyRequests(
            N_("Too many failed logins. Try again in %(minutes)s minutes."),
            retry_after=int((locked_until - now).total_seconds()) + 1,
            minutes=minutes,
        )
    user = get_user_by_email(session, email=email)
    valid, new_hash = password_hash.verify_and_update(
        password, user.password_hash if user else _DUMMY_HASH
    )
    if user is None or not valid or not user.is_active:
        session.add(LoginAttempt(email_key=key, ip=ip, attempted_at=now))
        session.flush()
        return None
    if new_hash:
        user.password_hash = new_hash
    user.last_login_at = now
    session.add(user)
    session.exec(delete(LoginAttempt).where(col(LoginAttempt.email_key) == key))
    session.flush()
    return user


def purge_login_attempts(session: Session, *, before: datetime) -> int:
    result = session.exec(delete(LoginAttempt).where(col(LoginAttempt.attempted_at) < before))
    return result.rowcount


def hash_token(token: str) -> str:
    """How secrets handed out (API tokens, calendar links) are kept: never as they are."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, *, user: User, name: str) -> tuple[ApiToken, str]:
    """A new API token and its secret, which is not stored and cannot be shown again."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id, name=name.strip(), token_hash=hash_token(secret), prefix=secret[:10]
    )
    audit.save(session, token, actor_id=user.id, action="api_token.create", fields=["name"])
    return token, secret


def list_tokens(session: Session, *, user: User) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.user_id == user.id)
    return list(session.exec(query.order_by(col(ApiToken.created_at).desc())))


def revoke_token(session: Session, *, user: User, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(N_("No such API token."))
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.save(session, token, actor_id=user.id, action="api_token.revoke")
    return token


TOKEN_USE_RESOLUTION = timedelta(minutes=1)


def token_for_secret(session: Session, *, secret: str) -> tuple[ApiToken, User]:
    """The live token with this secret and its active user; reads only."""
    token = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(secret))).first()
    if token is None or token.revoked_at is not None:
        raise NotAuthenticated(N_("The API token is unknown or revoked."))
    user = session.get(User, token.user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated(N_("The API token belongs to a deactivated user."))
    return token, user


def token_use_due(token: ApiToken, *, now: datetime) -> bool:
    """Recording every use would turn each read into a write; once a minute is enough."""
    return token.last_used_at is None or now - token.last_used_at > TOKEN_USE_RESOLUTION


def record_token_use(session: Session, *, token_id: int, now: datetime) -> None:
    session.execute(update(ApiToken).where(col(ApiToken.id) == token_id).values(last_used_at=now))
