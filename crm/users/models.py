"""Users of the CRM, their roles, API tokens and login attempts."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import EmailStr, field_validator
from sqlmodel import Field, Relationship, SQLModel

from crm.core.db import Privacy, column, timestamp, utcnow
from crm.core.i18n import LANGUAGES
from crm.core.schemas import Strict, blank_is_none

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 256


class Role(StrEnum):
    ADMIN = "admin"
    SALES_REP = "sales_rep"
    ACCOUNT_MANAGER = "account_manager"
    DPO = "dpo"


class UserRole(SQLModel, table=True):
    __tablename__ = "user_role"

    user_id: int = column(Privacy.NONE, foreign_key="user.id", ondelete="CASCADE", primary_key=True)
    # A plain string column, not a database enum: adding a role needs no type migration.
    role: str = column(Privacy.NONE, primary_key=True, max_length=32)

    user: "User" = Relationship(back_populates="role_rows")


class User(SQLModel, table=True):
    __tablename__ = "user"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    email: str = column(Privacy.PERSONAL, max_length=254, unique=True)
    name: str = column(Privacy.PERSONAL, max_length=200)
    password_hash: str = column(Privacy.SECRET, max_length=255)
    language: str | None = column(Privacy.NONE, default=None, max_length=8)
    time_zone: str | None = column(Privacy.NONE, default=None, max_length=64)
    # Put under the mails they write from a template ({{ user.signature }}).
    signature: str | None = column(Privacy.PERSONAL, default=None, max_length=2000)
    is_active: bool = column(Privacy.NONE, default=True)
    # Bumped by logout and password changes: cookies carrying an older value stop working.
    session_version: int = column(Privacy.NONE, default=1)
    created_at: datetime = timestamp(default_factory=utcnow)
    updated_at: datetime = timestamp(default_factory=utcnow)
    last_login_at: datetime | None = timestamp(default=None)
    # An administrator who put the first-run checklist away.
    checklist_dismissed_at: datetime | None = timestamp(default=None)

    role_rows: list[UserRole] = Relationship(
        back_populates="user",
        sa_relationship_kwargs={"cascade": "all, delete-orphan", "lazy": "selectin"},
    )

    @property
    def roles(self) -> set[Role]:
        return {Role(row.role) for row in self.role_rows}

    def has_role(self, *roles: Role) -> bool:
        return not self.roles.isdisjoint(roles)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    user_id: int = column(Privacy.NONE, foreign_key="user.id", ondelete="CASCADE", index=True)
    name: str = column(Privacy.FREE_TEXT, max_length=100)
    # SHA-256 of the token: tokens are long random strings, so a fast hash suffices.
    token_hash: str = column(Privacy.SECRET, max_length=64, unique=True)
    prefix: str = column(Privacy.NONE, max_length=16)
    created_at: datetime = timestamp(default_factory=utcnow)
    last_used_at: datetime | None = timestamp(default=None)
    revoked_at: datetime | None = timestamp(default=None)


class LoginAttempt(SQLModel, table=True):
    """Failed logins, kept in the database so that throttling holds across processes."""

    __tablename__ = "login_attempt"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    # A keyed hash of the normalised e-mail: enough to count, useless to a reader.
    email_key: str = column(Privacy.PERSONAL, max_length=64, index=True)
    ip: str = column(Privacy.PERSONAL, max_length=64, index=True)
    attempted_at: datetime = timestamp(default_factory=utcnow, index=True)


@dataclass(frozen=True)
class Viewer:
    """The signed-in user as pages see them: plain values that outlive the session."""

    id: int
    name: str
    email: str
    roles: frozenset[Role]

    @classmethod
    def of(cls, user: User) -> "Viewer":
        assert user.id is not None
        return cls(id=user.id, name=user.name, email=user.email, roles=frozenset(user.roles))

    def has_role(self, *roles: Role) -> bool:
        return not self.roles.isdisjoint(roles)


def _known_language(value: str | None) -> str | None:
    if value is not None and value not in LANGUAGES:
        raise ValueError(f"unsupported language {value!r}")
    return value


def _known_time_zone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


class UserBase(SQLModel):
    email: EmailStr = Field(max_length=254)
    name: str = Field(min_length=1, max_length=200)
    language: str | None = None

    _check_language = field_validator("language")(_known_language)


class UserCreate(Strict, UserBase):
    roles: set[Role] = Field(min_length=1)
    password: str | None = Field(
        default=None, min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH
    )


class UserUpdate(Strict, SQLModel):
    email: EmailStr | None = Field(default=None, max_length=254)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    language: str | None = None
    roles: set[Role] | None = Field(default=None, min_length=1)
    is_active: bool | None = None

    _check_language = field_validator("language")(_known_language)


class UserPublic(SQLModel):
    id: int
    email: str
    name: str
    roles: list[Role]
    language: str | None
    time_zone: str | None
    signature: str | None
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: User) -> "UserPublic":
        return cls.model_validate(user, update={"roles": sorted(user.roles)})


class UserCreated(UserPublic):
    # Only set when the CRM generated the password: it is shown this once.
    password: str | None = None

    @classmethod
    def of(cls, user: User, password: str | None = None) -> "UserCreated":
        return cls.model_validate(user, update={"roles": sorted(user.roles), "password": password})


class UsersPublic(SQLModel):
    data: list[UserPublic]
    count: int


class PasswordReset(Strict, SQLModel):
    password: str | None = Field(
        default=None, min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH
    )


class PasswordChange(Strict, SQLModel):
    current_password: str = Field(max_length=PASSWORD_MAX_LENGTH)
    new_password: str = Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)


class Preferences(Strict, SQLModel):
    language: str | None = None
    time_zone: str | None = None
    signature: str | None = Field(
        default=None,
        max_length=2000,
        description="Put under mails written from a template, as {{ user.signature }}.",
    )

    _empty_is_none = field_validator("*", mode="before")(blank_is_none)

    _check_language = field_validator("language")(_known_language)
    _check_time_zone = field_validator("time_zone")(_known_time_zone)


class ApiTokenCreate(Strict, SQLModel):
    name: str = Field(min_length=1, max_length=100)


class ApiTokenPublic(SQLModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiTokenCreated(ApiTokenPublic):
    token: str
