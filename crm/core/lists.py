"""The configurable lists (touchpoint channels and outcomes, exit reasons): rows with a
key, a name, an order and an active flag, edited by admins and never deleted, so that
old records keep their entry. Names are msgids: a seeded name is shown translated until
an admin renames it."""

from typing import Annotated, Any, TypeVar

from pydantic import StringConstraints
from sqlmodel import Field, Session, SQLModel, col, select

from crm.core import audit
from crm.core.db import Privacy, column
from crm.core.errors import N_, Conflict, Invalid, NotFound
from crm.core.i18n import translations
from crm.core.schemas import Strict


class ListEntry(SQLModel):
    """The columns every list table has; each list is its own table."""

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    key: str = column(Privacy.NONE, max_length=40, unique=True)
    name: str = column(Privacy.NONE, max_length=80)
    position: int = column(Privacy.NONE, default=0)
    is_active: bool = column(Privacy.NONE, default=True)


Entry = TypeVar("Entry", bound=ListEntry)


class ListEntryCreate(Strict, SQLModel):
    key: Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]
    name: str = Field(min_length=1, max_length=80)
    position: int = 0


class ListEntryUpdate(Strict, SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=80)
    position: int | None = None
    is_active: bool | None = None


class ListEntryPublic(SQLModel):
    id: int
    key: str
    name: str
    position: int
    is_active: bool


def seed(
    session: Session,
    model: type[ListEntry],
    defaults: list[tuple[str, str]],
    *,
    language: str = "en",
) -> None:
    """Add the default entries that are missing, named in ``language``; never touch
    edited ones."""
    gettext = translations(language).gettext
    existing = set(session.exec(select(model.key)))
    for position, (key, name) in enumerate(defaults):
        if key not in existing:
            session.add(model(key=key, name=gettext(name), position=position * 10))
    session.flush()


def entries(session: Session, model: type[Entry], *, active_only: bool = True) -> list[Entry]:
    query = select(model).order_by(col(model.position), col(model.id))
    if active_only:
        query = query.where(col(model.is_active))
    return list(session.exec(query))


def get(session: Session, model: type[Entry], *, entry_id: int) -> Entry:
    entry = session.get(model, entry_id)
    if entry is None:
        raise NotFound(N_("No such list entry."))
    return entry


def create(
    session: Session, model: type[Entry], *, data: ListEntryCreate, actor_id: int | None
) -> Entry:
    if session.exec(select(model).where(model.key == data.key)).first():
        raise Conflict(N_("An entry with this key already exists."))
    return audit.save(
        session,
        model.model_validate(data),
        actor_id=actor_id,
        action=f"{model.__tablename__}.create",
        fields=["key", "name", "position"],
    )


def update(session: Session, entry: Entry, *, data: ListEntryUpdate, actor_id: int | None) -> Entry:
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    entry.sqlmodel_update(changes)
    return audit.save(
        session, entry, actor_id=actor_id, action=f"{entry.__tablename__}.update", fields=changes
    )


def by_key(session: Session, model: type[Entry], key: str, *, field: str) -> Entry:
    """The active entry with ``key``, or Invalid naming ``field``."""
    entry: Any = session.exec(select(model).where(model.key == key)).first()
    if entry is None or not entry.is_active:
        raise Invalid(N_("Choose one of the offered values."), field=field)
    return entry
