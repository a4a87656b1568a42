"""Follow-ups: creating, completing (with the touchpoint in the same step), snoozing,
reassigning and cancelling them, and the planner's groups. No HTTP in here."""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func
from sqlmodel import Session, col, select

from crm.contacts import service as contact_service
from crm.contacts.models import Company, Contact
from crm.core import audit
from crm.core.db import utcnow
from crm.core.errors import N_, Conflict, Invalid, NotFound
from crm.core.pagination import keyset_page
from crm.deals.models import Deal
from crm.followups.models import (
    PENDING,
    PENDING_ROWS,
    Followup,
    FollowupComplete,
    FollowupCreate,
    FollowupStatus,
    FollowupUpdate,
)
from crm.touchpoints import service as touchpoint_service
from crm.touchpoints.models import Touchpoint, TouchpointCreate
from crm.users import service as user_service


def get_followup(session: Session, *, followup_id: int) -> Followup:
    followup = session.get(Followup, followup_id)
    if followup is None:
        raise NotFound(N_("No such follow-up."))
    return followup


def _check_deal(session: Session, deal_id: int | None) -> None:
    if deal_id is not None and session.get(Deal, deal_id) is None:
        raise Invalid(N_("Choose one of the offered values."), field="deal_id")


def create_followup(session: Session, *, data: FollowupCreate, actor_id: int | None) -> Followup:
    """A follow-up by hand; it goes to the one who creates it unless given to another."""
    subject = (
        session.get(Contact, data.contact_id)
        if data.contact_id is not None
        else session.get(Company, data.company_id)
    )
    if subject is None:
        field = "contact_id" if data.contact_id is not None else "company_id"
        raise Invalid(N_("Choose one of the offered values."), field=field)
    assignee_id = data.assignee_id if data.assignee_id is not None else actor_id
    if assignee_id is not None:
        user_service.check_active_user(session, assignee_id, field="assignee_id")
    _check_deal(session, data.deal_id)
    followup = Followup.model_validate(
        data, update={"assignee_id": assignee_id, "created_by_id": actor_id}
    )
    return audit.save(session, followup, actor_id=actor_id, action="followup.create")


def update_followup(
    session: Session, *, followup: Followup, data: FollowupUpdate, actor_id: int | None
) -> Followup:
    changes = data.model_dump(exclude_unset=True)
    for required in ("title", "due_at"):
        if required in changes and changes[required] is None:
            raise Invalid(N_("This field is required."), field=required)
    if changes.get("assignee_id") is not None:
        user_service.check_active_user(session, changes["assignee_id"], field="assignee_id")
    if "deal_id" in changes:
        _check_deal(session, changes["deal_id"])
    followup.sqlmodel_update({**changes, "updated_at": utcnow()})
    return audit.save(
        session, followup, actor_id=actor_id, action="followup.update", fields=changes
    )


def _require_pending(followup: Followup) -> None:
    if followup.status not in PENDING:
        raise Conflict(N_("This follow-up is closed already."))


def complete_followup(
    session: Session, *, followup: Followup, data: FollowupComplete, actor_id: int | None
) -> Followup:
    """Done; with a summary, what happened is logged as a touchpoint of the subject; or
    a touchpoint of the subject's logged already is named as what happened."""
    _require_pending(followup)
    if data.touchpoint_id is not None:
        followup.touchpoint_id = _touchpoint_of_subject(session, followup, data.touchpoint_id)
    elif data.summary:
        touchpoint = touchpoint_service.log_touchpoint(
            session,
            data=TouchpointCreate(
                **(data.touchpoint.model_dump(exclude_unset=True) if data.touchpoint else {}),
                summary=data.summary,
                contact_id=followup.contact_id,
                company_id=followup.company_id,
            ),
            actor_id=actor_id,
        )
        followup.touchpoint_id = touchpoint.id
    now = utcnow()
    followup.status, followup.completed_at, followup.updated_at = FollowupStatus.DONE, now, now
    return audit.save(session, followup, actor_id=actor_id, action="followup.done")


def is_about(followup: Followup, contact: Contact) -> bool:
    """Whether the follow-up concerns the contact: theirs, or their company's."""
    return followup.contact_id == contact.id or (
        followup.company_id is not None and followup.company_id == contact.company_id
    )


def _touchpoint_of_subject(session: Session, followup: Followup, touchpoint_id: int) -> int:
    """The touchpoint, if it is about the follow-up's subject (at a company: with anybody
    who works there)."""
    touchpoint = session.get(Touchpoint, touchpoint_id)
    if touchpoint is not None:
        if followup.company_id is not None and touchpoint.company_id == followup.company_id:
            return touchpoint_id
        contact = session.get(Contact, touchpoint.contact_id) if touchpoint.contact_id else None
        if contact is not None and is_about(followup, contact):
            return touchpoint_id
    raise Invalid(N_("Choose a touchpoint of this follow-up's subject."), field="touchpoint_id")


def snooze_followup(
    session: Session, *, followup: Followup, until: datetime, actor_id: int | None
) -> Followup:
    """Put it off until ``until``, when it is due again."""
    _require_pending(followup)
    if until <= utcnow():
        raise Invalid(N_("Snooze it until a time to come."), field="until")
    followup.status, followup.due_at, followup.updated_at = FollowupStatus.SNOOZED, until, utcnow()
    return audit.save(session, followup, actor_id=actor_id, action="followup.snooze")


def cancel_followup(session: Session, *, followup: Followup, actor_id: int | None) -> Followup:
    _require_pending(followup)
    followup.status, followup.updated_at = FollowupStatus.CANCELLED, utcnow()
    return audit.save(session, followup, actor_id=actor_id, action="followup.cancel")


def delete_followup(session: Session, *, followup: Followup, actor_id: int | None) -> None:
    audit.delete(session, followup, actor_id=actor_id, action="followup.delete")


def list_followups(
    session: Session,
    *,
    assignee_id: int | None = None,
    status: FollowupStatus | None = None,
    due_from: datetime | None = None,
    due_to: datetime | None = None,
    contact_id: int | None = None,
    company_id: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Followup], str | None]:
    """Follow-ups by due time, soonest first, one keyset page at a time."""
    query = select(Followup)
    for column, value in (
        (Followup.assignee_id, assignee_id),
        (Followup.status, status),
        (Followup.contact_id, contact_id),
        (Followup.company_id, company_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if due_from is not None:
        query = query.where(Followup.due_at >= due_from)
    if due_to is not None:
        query = query.where(Followup.due_at < due_to)
    keys = [col(Followup.due_at), col(Followup.id)]
    return keyset_page(session, query, keys, descending=False, cursor=cursor, limit=limit)


# The planner's groups, in order; each shows a page of this many at a time.
GROUPS = ("overdue", "today", "this_week", "later")
GROUP_PAGE = 25


@dataclass
class Group:
    key: str
    followups: list[Followup]
    total: int
    next_cursor: str | None


def planner(
    session: Session,
    *,
    assignee_id: int,
    time_zone: ZoneInfo,
    now: datetime | None = None,
    only: str | None = None,
    cursor: str | None = None,
    limit: int = GROUP_PAGE,
) -> dict[str, Group]:
    """A user's pending follow-ups: overdue, due today, later this week (to Sunday, in
    the user's time zone), and later; each group's size, and its first page (or, for the
    group ``only``, the page after ``cursor``)."""
    now = (now or utcnow()).astimezone(time_zone)
    today = datetime.combine(now.date(), time.min, tzinfo=time_zone)
    tomorrow = today + timedelta(days=1)
    next_week = today + timedelta(days=7 - today.weekday())
    due = col(Followup.due_at)
    ranges = {
        "overdue": [due < now],
        "today": [due >= now, due < tomorrow],
        "this_week": [due >= tomorrow, due < next_week],
        "later": [due >= next_week],
    }
    # The pending index's own condition, so that both databases read a page from it.
    pending = [Followup.assignee_id == assignee_id, PENDING_ROWS]
    # Every group's size in one pass over the user's pending follow-ups.
    sizes = session.exec(
        select(
            *(func.coalesce(func.sum(case((and_(*r), 1), else_=0)), 0) for r in ranges.values())
        ).where(*pending)
    ).one()
    groups = {}
    for (key, conditions), total in zip(ranges.items(), sizes, strict=True):
        if only and key != only:
            continue
        if not total:
            groups[key] = Group(key, [], 0, None)
            continue
        followups, next_cursor = keyset_page(
            session,
            select(Followup).where(*pending, *conditions),
            [due, col(Followup.id)],
            descending=False,
            cursor=cursor if key == only else None,
            limit=limit,
        )
        groups[key] = Group(key, followups, total, next_cursor)
    return groups


def pending_for(
    session: Session, *, contact_id: int | None = None, company_id: int | None = None
) -> list[Followup]:
    """The subject's follow-ups still to do, soonest first."""
    query = select(Followup).where(col(Followup.status).in_(PENDING))
    if contact_id is not None:
        query = query.where(Followup.contact_id == contact_id)
    if company_id is not None:
        query = query.where(Followup.company_id == company_id)
    return list(session.exec(query.order_by(Followup.due_at, Followup.id)))


def subject_names(session: Session, followups: list[Followup]) -> dict[tuple[str, int], str]:
    """The names of the follow-ups' subjects by ("contact" or "company", id)."""
    return contact_service.subject_names(
        session,
        contact_ids={f.contact_id for f in followups if f.contact_id},
        company_ids={f.company_id for f in followups if f.company_id},
    )
