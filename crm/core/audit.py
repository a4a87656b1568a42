"""Who did what to which record, and when; never the values themselves."""

from collections.abc import Iterable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import JSON, Index
from sqlmodel import Session, SQLModel, col, select

from crm.core.db import Privacy, column, insert_rows, timestamp, utcnow
from crm.core.pagination import keyset_page


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    # A record's history, and whether anyone has changed records of a kind yet.
    __table_args__ = (Index("ix_audit_event_entity", "entity_type", "entity_id"),)

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    occurred_at: datetime = timestamp(default_factory=utcnow, index=True)
    actor_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="user.id", ondelete="SET NULL", index=True
    )
    action: str = column(Privacy.NONE, max_length=64)
    entity_type: str = column(Privacy.NONE, max_length=64)
    entity_id: int | None = column(Privacy.NONE, default=None)
    # Names of the fields touched, so that a reviewer sees what changed but not to what.
    fields: list[str] = column(Privacy.NONE, default_factory=list, sa_type=JSON)


def _event(
    *,
    actor_id: int | None,
    action: str,
    entity_type: str,
    entity_id: int | None,
    fields: Iterable[str],
) -> AuditEvent:
    return AuditEvent(
        actor_id=actor_id,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        fields=sorted(fields),
    )


def record(
    session: Session,
    *,
    actor_id: int | None,
    action: str,
    entity_type: str,
    entity_id: int | None,
    fields: Iterable[str] = (),
) -> AuditEvent:
    event = _event(
        actor_id=actor_id,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        fields=fields,
    )
    session.add(event)
    session.flush()
    return event


def record_many(
    session: Session,
    *,
    actor_id: int | None,
    action: str,
    entity_type: str,
    entity_ids: Iterable[int],
    fields: Iterable[str] = (),
) -> None:
    """The same change to many records (a bulk action or an import), in one statement."""
    occurred_at, fields = utcnow(), sorted(fields)
    values = [
        {
            "occurred_at": occurred_at,
            "actor_id": actor_id,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "fields": fields,
        }
        for entity_id in entity_ids
    ]
    insert_rows(session, AuditEvent.__table__, values)


Row = TypeVar("Row", bound=SQLModel)


def save(
    session: Session,
    row: Row,
    *,
    actor_id: int | None,
    action: str,
    fields: Iterable[str] = (),
) -> Row:
    """Write a row and record the change to it in one step."""
    session.add(row)
    session.flush()
    record(
        session,
        actor_id=actor_id,
        action=action,
        entity_type=row.__tablename__,
        entity_id=getattr(row, "id", None),
        fields=fields,
    )
    return row


def delete(session: Session, row: SQLModel, *, actor_id: int | None, action: str) -> None:
    """Delete a row and record the deletion in one step."""
    record(
        session,
        actor_id=actor_id,
        action=action,
        entity_type=row.__tablename__,
        entity_id=getattr(row, "id", None),
    )
    session.delete(row)
    session.flush()


def events_for(session: Session, *, entity_type: str, entity_id: int) -> list[AuditEvent]:
    query = (
        select(AuditEvent)
        .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == entity_id)
        .order_by(col(AuditEvent.occurred_at).desc(), col(AuditEvent.id).desc())
    )
    return list(session.exec(query))


class AuditEventPublic(SQLModel):
    id: int
    occurred_at: datetime
    actor_id: int | None
    action: str
    entity_type: str
    entity_id: int | None
    fields: list[str]


class AuditEventsPage(SQLModel):
    items: list[AuditEventPublic]
    next_cursor: str | None


def list_events(
    session: Session,
    *,
    entity_type: str | None = None,
    entity_id: int | None = None,
    actor_id: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[AuditEvent], str | None]:
    """The audit trail, newest first, one keyset page at a time."""
    query = select(AuditEvent)
    for column_, value in (
        (AuditEvent.entity_type, entity_type),
        (AuditEvent.entity_id, entity_id),
        (AuditEvent.actor_id, actor_id),
    ):
        if value is not None:
            query = query.where(column_ == value)
    keys = [col(AuditEvent.occurred_at), col(AuditEvent.id)]
    return keyset_page(session, query, keys, descending=True, cursor=cursor, limit=limit)
