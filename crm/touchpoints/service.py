"""Logging touchpoints, reading timelines, and the lists of channels and outcomes."""

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from crm.contacts import service as contact_service
from crm.core import audit
from crm.core.db import utcnow
from crm.core.errors import N_, Conflict, Invalid, NotFound
from crm.core.pagination import keyset_page
from crm.touchpoints.models import (
    DEFAULT_CHANNELS,
    DEFAULT_OUTCOMES,
    Channel,
    ListEntryCreate,
    ListEntryUpdate,
    Outcome,
    Touchpoint,
    TouchpointCreate,
    TouchpointPublic,
    TouchpointUpdate,
)

ListModel = type[Channel] | type[Outcome]


def seed_defaults(session: Session) -> None:
    """Add the default channels and outcomes that are missing; never touch edited ones."""
    for model, defaults in ((Channel, DEFAULT_CHANNELS), (Outcome, DEFAULT_OUTCOMES)):
        existing = set(session.exec(select(model.key)))
        for position, (key, name) in enumerate(defaults):
            if key not in existing:
                session.add(model(key=key, name=name, position=position * 10))
    session.flush()


def list_entries(session: Session, model: ListModel, *, active_only: bool = True) -> list[Any]:
    query = select(model).order_by(model.position, model.id)
    if active_only:
        query = query.where(col(model.is_active))
    return list(session.exec(query))


def get_entry(session: Session, model: ListModel, *, entry_id: int) -> Any:
    entry = session.get(model, entry_id)
    if entry is None:
        raise NotFound(N_("No such list entry."))
    return entry


def create_entry(
    session: Session, model: ListModel, *, data: ListEntryCreate, actor_id: int | None
) -> Any:
    if session.exec(select(model).where(model.key == data.key)).first():
        raise Conflict(N_("An entry with this key already exists."))
    return audit.save(
        session,
        model.model_validate(data),
        actor_id=actor_id,
        action=f"{model.__tablename__}.create",
        fields=["key", "name", "position"],
    )


def update_entry(
    session: Session, entry: Channel | Outcome, *, data: ListEntryUpdate, actor_id: int | None
) -> Any:
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    entry.sqlmodel_update(changes)
    return audit.save(
        session, entry, actor_id=actor_id, action=f"{entry.__tablename__}.update", fields=changes
    )


def _entry_by_key(session: Session, model: ListModel, key: str, *, field: str) -> Any:
    entry = session.exec(select(model).where(model.key == key)).first()
    if entry is None or not entry.is_active:
        raise Invalid(N_("Choose one of the offered values."), field=field)
    return entry


def log_touchpoint(session: Session, *, data: TouchpointCreate, actor_id: int | None) -> Touchpoint:
    company_id = data.company_id
    if data.contact_id is not None:
        contact = contact_service.get_contact(session, contact_id=data.contact_id)
        company_id = company_id or contact.company_id
    if company_id is not None:
        contact_service.get_company(session, company_id=company_id)
    channel = _entry_by_key(session, Channel, data.channel, field="channel")
    outcome = (
        _entry_by_key(session, Outcome, data.outcome, field="outcome") if data.outcome else None
    )
    touchpoint = Touchpoint.model_validate(
        data.model_dump(exclude={"channel", "outcome", "occurred_at", "company_id"}),
        update={
            "company_id": company_id,
            "channel_id": channel.id,
            "outcome_id": outcome.id if outcome else None,
            "occurred_at": data.occurred_at or utcnow(),
            "logged_by_id": actor_id,
        },
    )
    return audit.save(session, touchpoint, actor_id=actor_id, action="touchpoint.create")


def get_touchpoint(session: Session, *, touchpoint_id: int) -> Touchpoint:
    touchpoint = session.get(Touchpoint, touchpoint_id)
    if touchpoint is None:
        raise NotFound(N_("No such touchpoint."))
    return touchpoint


def update_touchpoint(
    session: Session, *, touchpoint: Touchpoint, data: TouchpointUpdate, actor_id: int | None
) -> Touchpoint:
    changes = data.model_dump(exclude_unset=True)
    if "channel" in changes:
        key = changes.pop("channel")
        if key is None:
            raise Invalid(N_("This field is required."), field="channel")
        changes["channel_id"] = _entry_by_key(session, Channel, key, field="channel").id
    if "outcome" in changes:
        key = changes.pop("outcome")
        changes["outcome_id"] = (
            _entry_by_key(session, Outcome, key, field="outcome").id if key else None
        )
    for required in ("summary", "direction", "initiated_by", "occurred_at"):
        if required in changes and changes[required] is None:
            raise Invalid(N_("This field is required."), field=required)
    touchpoint.sqlmodel_update(changes)
    return audit.save(
        session, touchpoint, actor_id=actor_id, action="touchpoint.update", fields=changes
    )


def delete_touchpoint(session: Session, *, touchpoint: Touchpoint, actor_id: int | None) -> None:
    audit.delete(session, touchpoint, actor_id=actor_id, action="touchpoint.delete")


def list_touchpoints(
    session: Session,
    *,
    contact_id: int | None = None,
    company_id: int | None = None,
    channel: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Touchpoint], str | None]:
    """Touchpoints, newest first. A company's include those of its people while there."""
    query = select(Touchpoint)
    if contact_id is not None:
        query = query.where(Touchpoint.contact_id == contact_id)
    if company_id is not None:
        query = query.where(Touchpoint.company_id == company_id)
    if channel:
        query = query.join(Channel).where(Channel.key == channel)
    if since is not None:
        query = query.where(Touchpoint.occurred_at >= since)
    if until is not None:
        query = query.where(Touchpoint.occurred_at < until)
    keys = [col(Touchpoint.occurred_at), col(Touchpoint.id)]
    return keyset_page(session, query, keys, descending=True, cursor=cursor, limit=limit)


class Labels:
    """Channel and outcome rows by id, read once per request: the lists are short."""

    def __init__(self, session: Session) -> None:
        self.channels = {c.id: c for c in list_entries(session, Channel, active_only=False)}
        self.outcomes = {o.id: o for o in list_entries(session, Outcome, active_only=False)}

    def offered_channels(self) -> list[Channel]:
        """The active channels in their order (the dict keeps the query's order)."""
        return [c for c in self.channels.values() if c.is_active]

    def offered_outcomes(self) -> list[Outcome]:
        return [o for o in self.outcomes.values() if o.is_active]

    def public(self, touchpoint: Touchpoint) -> TouchpointPublic:
        outcome = self.outcomes.get(touchpoint.outcome_id)
        return TouchpointPublic.model_validate(
            touchpoint,
            update={
                "channel": self.channels[touchpoint.channel_id].key,
                "outcome": outcome.key if outcome else None,
            },
        )
