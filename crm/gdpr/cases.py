"""Data subject requests as cases: deadlines (a calendar month, end-of-month rules, one
extension), their handling, and who may handle them. No HTTP in here."""

import calendar
from datetime import date, datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from crm.contacts.models import Contact
from crm.core import audit
from crm.core.db import utcnow
from crm.core.errors import N_, Conflict, Invalid, NotFound
from crm.core.pagination import keyset_page
from crm.gdpr.models import (
    OPEN_STATUSES,
    PrivacyRequest,
    PrivacySettings,
    PrivacySettingsPublic,
    RequestCreate,
    RequestExtension,
    RequestKind,
    RequestStatus,
    RequestUpdate,
)
from crm.users import service as user_service
from crm.users.models import Role, User


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, or the month's last day when it has no such day
    (31 January + 1 month = 28 or 29 February): how a period in months ends."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_date(received_at: datetime, *, extended_months: int = 0) -> date:
    """One month after receipt (Art. 12(3)), plus the extension."""
    return add_months(received_at.date(), 1 + extended_months)


def privacy_settings(session: Session) -> PrivacySettings:
    found = session.exec(select(PrivacySettings)).first()
    return found or PrivacySettings(admins_may_handle=False)


def may_handle(session: Session, user: User) -> bool:
    """The DPO, and administrators if the DPO lets them."""
    if user.has_role(Role.DPO):
        return True
    return user.has_role(Role.ADMIN) and privacy_settings(session).admins_may_handle


def update_settings(
    session: Session, *, data: PrivacySettingsPublic, actor_id: int | None
) -> PrivacySettings:
    settings = session.exec(select(PrivacySettings)).first() or PrivacySettings()
    settings.sqlmodel_update({**data.model_dump(), "updated_at": utcnow()})
    return audit.save(session, settings, actor_id=actor_id, action="privacy_settings.update")


def get_request(session: Session, *, request_id: int) -> PrivacyRequest:
    found = session.get(PrivacyRequest, request_id)
    if found is None:
        raise NotFound(N_("No such request."))
    return found


def _check_links(session: Session, contact_id: int | None, handler_id: int | None) -> None:
    if contact_id is not None and session.get(Contact, contact_id) is None:
        raise Invalid(N_("Choose one of the offered values."), field="contact_id")
    if handler_id is not None:
        user_service.check_active_user(session, handler_id, field="handler_id")


def create_request(
    session: Session, *, data: RequestCreate, actor_id: int | None
) -> PrivacyRequest:
    received_at = data.received_at or utcnow()
    if received_at > utcnow() + timedelta(minutes=5):
        raise Invalid(N_("The time cannot lie in the future."), field="received_at")
    _check_links(session, data.contact_id, data.handler_id)
    found = PrivacyRequest.model_validate(
        data,
        update={
            "received_at": received_at,
            "due_date": due_date(received_at),
            "handler_id": data.handler_id if data.handler_id is not None else actor_id,
        },
    )
    return audit.save(session, found, actor_id=actor_id, action="privacy_request.create")


def _require_open(found: PrivacyRequest) -> None:
    if found.status not in OPEN_STATUSES:
        raise Conflict(N_("This request is closed already."))


def update_request(
    session: Session, *, found: PrivacyRequest, data: RequestUpdate, actor_id: int | None
) -> PrivacyRequest:
    """Change the case; closing it as refused needs the legal ground."""
    changes = data.model_dump(exclude_unset=True)
    _require_open(found)
    _check_links(session, changes.get("contact_id"), changes.get("handler_id"))
    if changes.pop("identity_verified", None):
        found.identity_verified_at = found.identity_verified_at or utcnow()
    status = changes.get("status")
    if status == RequestStatus.REFUSED and not (
        changes.get("refusal_ground") or found.refusal_ground
    ):
        raise Invalid(N_("Give the legal ground for refusing."), field="refusal_ground")
    if status in (RequestStatus.DONE, RequestStatus.REFUSED):
        found.closed_at = utcnow()
    if status is None and "status" in changes:
        raise Invalid(N_("This field is required."), field="status")
    found.sqlmodel_update({**changes, "updated_at": utcnow()})
    return audit.save(
        session, found, actor_id=actor_id, action="privacy_request.update", fields=changes
    )


def extend_request(
    session: Session, *, found: PrivacyRequest, data: RequestExtension, actor_id: int | None
) -> PrivacyRequest:
    """Art. 12(3): once, by up to two further months, with the reason (which the data
    subject must be told within the first month)."""
    _require_open(found)
    if found.extended_months:
        raise Conflict(N_("This request has been extended already."))
    found.extended_months = data.months
    found.extension_reason = data.reason
    found.due_date = due_date(found.received_at, extended_months=data.months)
    found.due_soon_at, found.updated_at = None, utcnow()
    return audit.save(
        session,
        found,
        actor_id=actor_id,
        action="privacy_request.extend",
        fields=["due_date", "extension_reason"],
    )


def list_requests(
    session: Session,
    *,
    status: RequestStatus | None = None,
    open_only: bool = False,
    kind: RequestKind | None = None,
    due_before: date | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[PrivacyRequest], str | None]:
    """Requests by due date, soonest (and so overdue) first."""
    query = select(PrivacyRequest)
    if status is not None:
        query = query.where(PrivacyRequest.status == status)
    if open_only:
        query = query.where(col(PrivacyRequest.status).in_(OPEN_STATUSES))
    if kind is not None:
        query = query.where(PrivacyRequest.kind == kind)
    if due_before is not None:
        query = query.where(PrivacyRequest.due_date < due_before)
    keys = [col(PrivacyRequest.due_date), col(PrivacyRequest.id)]
    return keyset_page(session, query, keys, descending=False, cursor=cursor, limit=limit)


def is_overdue(found: PrivacyRequest, *, today: date | None = None) -> bool:
    return found.status in OPEN_STATUSES and found.due_date < (today or utcnow().date())


def flag_due_soon(session: Session, *, today: date | None = None) -> int:
    """Mark the open requests whose deadline is at most 7 days away (set-based); returns
    how many were newly marked."""
    horizon = (today or utcnow().date()) + timedelta(days=7)
    result = session.execute(
        update(PrivacyRequest)
        .where(
            col(PrivacyRequest.status).in_(OPEN_STATUSES),
            PrivacyRequest.due_date <= horizon,
            col(PrivacyRequest.due_soon_at).is_(None),
        )
        .values(due_soon_at=utcnow())
        .returning(PrivacyRequest.id)
    )
    return len(result.all())
