"""Logging touchpoints, reading timelines, and the lists of channels and outcomes."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from crm.contacts import service as contact_service
from crm.core import audit, lists
from crm.core.db import utcnow
from crm.core.errors import N_, Invalid, NotFound
from crm.core.pagination import decode_cursor, keyset_page
from crm.journeys import attribution
from crm.touchpoints.models import (
    DEFAULT_CHANNELS,
    DEFAULT_OUTCOMES,
    Channel,
    Outcome,
    Touchpoint,
    TouchpointCreate,
    TouchpointPublic,
    TouchpointUpdate,
)


def seed_defaults(session: Session, *, language: str = "en") -> None:
    """Add the default channels and outcomes that are missing, named in ``language``."""
    lists.seed(session, Channel, DEFAULT_CHANNELS, language=language)
    lists.seed(session, Outcome, DEFAULT_OUTCOMES, language=language)


def log_touchpoint(session: Session, *, data: TouchpointCreate, actor_id: int | None) -> Touchpoint:
    return log_touchpoints(session, entries=[(data, actor_id)])[0]


def log_touchpoints(
    session: Session, *, entries: Sequence[tuple[TouchpointCreate, int | None]]
) -> list[Touchpoint]:
    """Touchpoints with who logged each, checked one by one and written together: one
    flush, one audit statement per user, and the phases they fall in found in one go
    (mail read from a mailbox comes in hundreds)."""
    if not entries:
        return []
    channels: dict[str, Channel] = {}
    touchpoints = []
    for data, actor_id in entries:
        company_id = data.company_id
        if data.contact_id is not None:
            contact = contact_service.get_contact(session, contact_id=data.contact_id)
            contact_service.check_not_restricted(contact)
            company_id = company_id or contact.company_id
        if data.company_id is not None:
            contact_service.get_company(session, company_id=data.company_id)
        if data.channel not in channels:
            channels[data.channel] = lists.by_key(session, Channel, data.channel, field="channel")
        outcome = (
            lists.by_key(session, Outcome, data.outcome, field="outcome") if data.outcome else None
        )
        touchpoint = Touchpoint.model_validate(
            data.model_dump(exclude={"channel", "outcome", "occurred_at", "company_id"}),
            update={
                "company_id": company_id,
                "channel_id": channels[data.channel].id,
                "outcome_id": outcome.id if outcome else None,
                "occurred_at": data.occurred_at or utcnow(),
                "logged_by_id": actor_id,
            },
        )
        touchpoints.append(touchpoint)
    session.add_all(touchpoints)
    session.flush()
    by_actor: dict[int | None, list[int]] = defaultdict(list)
    for touchpoint in touchpoints:
        assert touchpoint.id is not None
        by_actor[touchpoint.logged_by_id].append(touchpoint.id)
    for actor_id, ids in by_actor.items():
        audit.record_many(
            session,
            actor_id=actor_id,
            action="touchpoint.create",
            entity_type=Touchpoint.__tablename__,
            entity_ids=ids,
        )
    attribution.refresh(session, touchpoint_ids=[t.id for t in touchpoints], new=True)
    return touchpoints


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
        changes["channel_id"] = lists.by_key(session, Channel, key, field="channel").id
    if "outcome" in changes:
        key = changes.pop("outcome")
        changes["outcome_id"] = (
            lists.by_key(session, Outcome, key, field="outcome").id if key else None
        )
    for required in ("summary", "direction", "initiated_by", "occurred_at"):
        if required in changes and changes[required] is None:
            raise Invalid(N_("This field is required."), field=required)
    touchpoint.sqlmodel_update(changes)
    audit.save(session, touchpoint, actor_id=actor_id, action="touchpoint.update", fields=changes)
    attribution.refresh(session, touchpoint_ids=[touchpoint.id])
    return touchpoint


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
        self.channels = {c.id: c for c in lists.entries(session, Channel, active_only=False)}
        self.outcomes = {o.id: o for o in lists.entries(session, Outcome, active_only=False)}

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


def timeline_window(
    touchpoints: list[Touchpoint], *, cursor: str | None, next_cursor: str | None
) -> tuple[datetime | None, datetime | None]:
    """The times that other entries (journey moves, deal stages) must fall in to belong on
    the timeline page that holds ``touchpoints``: from the page's oldest touchpoint (open
    on the last page) to before the page's cursor (open on the first)."""
    before = decode_cursor(cursor, kinds=[datetime, int])[0] if cursor else None
    since = touchpoints[-1].occurred_at if next_cursor else None
    return since, before


def last_touches(
    session: Session, *, contact_ids: set[int], company_ids: set[int]
) -> dict[tuple[str, int], datetime]:
    """When each contact and company was last touched, by ("contact" | "company", id)."""
    found: dict[tuple[str, int], datetime] = {}
    for kind, key, ids in (
        ("contact", Touchpoint.contact_id, contact_ids),
        ("company", Touchpoint.company_id, company_ids),
    ):
        if ids:
            query = (
                select(key, func.max(Touchpoint.occurred_at)).where(col(key).in_(ids)).group_by(key)
            )
            found.update(((kind, id_), at) for id_, at in session.exec(query).all())
    return found
