"""Retention: a daily job proposes contacts with no remaining reason to be kept, the DPO
approves (erases) or dismisses them in bulk.

A contact is proposed when nothing happened with them (created, a touchpoint, a consent
record) for longer than their period, they hold no current consent, their processing is
not restricted and no request of theirs is open. A lead's period is the DPO's setting
(24 months by default); a customer's (who bought, or took part in a won deal) is the
retention period of the customer relationship purpose.
"""

from datetime import UTC, datetime, time

from sqlalchemy import case, exists, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from crm.contacts.models import Contact
from crm.core import audit
from crm.core.db import UTCDateTime, utcnow
from crm.core.sql import greatest
from crm.deals.models import Deal, DealContact, DealStatus
from crm.gdpr import cases
from crm.gdpr import service as gdpr_service
from crm.gdpr.erasure import Erased, erase_contact
from crm.gdpr.models import (
    OPEN_STATUSES,
    ConsentAction,
    ConsentEvent,
    PrivacyRequest,
    ProposalStatus,
    Purpose,
    RetentionProposal,
)
from crm.journeys.models import Enrollment
from crm.touchpoints.models import Touchpoint

RELATIONSHIP = "customer_relationship"
RELATIONSHIP_MONTHS = 120  # when the register gives the purpose no period


def _months_before(now: datetime, months: int) -> datetime:
    return datetime.combine(cases.add_months(now.date(), -months), time(), tzinfo=UTC)


def _holds_consent() -> object:
    """For some purpose, their latest decision is a grant."""
    latest = gdpr_service.decision(Contact.id, Purpose.id)
    return exists(select(Purpose.id).where(latest == ConsentAction.GRANTED))


def propose(session: Session, *, now: datetime | None = None) -> int:
    """Propose, in one statement, every contact whose period ran out; returns how many
    were newly proposed (one proposal per contact, whatever the DPO decided)."""
    now = now or utcnow()
    lead_months = cases.privacy_settings(session).lead_retention_months
    relationship = session.exec(select(Purpose.retention_months).where(Purpose.key == RELATIONSHIP))
    customer_months = relationship.scalar() or RELATIONSHIP_MONTHS
    last_touch = (
        select(func.max(Touchpoint.occurred_at))
        .where(Touchpoint.contact_id == Contact.id)
        .scalar_subquery()
    )
    last_consent = (
        select(func.max(ConsentEvent.occurred_at))
        .where(ConsentEvent.contact_id == Contact.id)
        .scalar_subquery()
    )
    last_activity = greatest(
        Contact.created_at,
        func.coalesce(last_touch, Contact.created_at),
        func.coalesce(last_consent, Contact.created_at),
    )
    customer = or_(
        exists(
            select(Enrollment.id).where(
                Enrollment.contact_id == Contact.id, col(Enrollment.purchased_at).is_not(None)
            )
        ),
        exists(
            select(DealContact.deal_id)
            .join(Deal, Deal.id == DealContact.deal_id)
            .where(DealContact.contact_id == Contact.id, Deal.status == DealStatus.WON)
        ),
    )
    open_request = exists(
        select(PrivacyRequest.id).where(
            PrivacyRequest.contact_id == Contact.id,
            col(PrivacyRequest.status).in_(OPEN_STATUSES),
        )
    )
    lead_limit = literal(_months_before(now, lead_months), UTCDateTime)
    customer_limit = literal(_months_before(now, customer_months), UTCDateTime)
    rows = select(
        Contact.id,
        case((customer, literal("customer")), else_=literal("lead")),
        last_activity,
        literal(now, UTCDateTime),
        literal(str(ProposalStatus.PROPOSED)),
    ).where(
        col(Contact.restricted_at).is_(None),
        ~open_request,
        ~_holds_consent(),
        last_activity < case((customer, customer_limit), else_=lead_limit),
    )
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    table = RetentionProposal.__table__
    statement = (
        dialect.insert(table)
        .from_select(["contact_id", "rule", "last_activity_at", "proposed_at", "status"], rows)
        .on_conflict_do_nothing(index_elements=["contact_id"])
        .returning(table.c.id)
    )
    return len(session.execute(statement).all())


def proposals(session: Session, *, limit: int = 500) -> list[tuple[RetentionProposal, Contact]]:
    """The open proposals, the longest quiet first, with their contacts."""
    query = (
        select(RetentionProposal, Contact)
        .join(Contact, Contact.id == RetentionProposal.contact_id)
        .where(RetentionProposal.status == ProposalStatus.PROPOSED)
        .order_by(RetentionProposal.last_activity_at, RetentionProposal.id)
        .limit(limit)
    )
    return [(p, c) for p, c in session.execute(query).all()]


def _open(session: Session, ids: list[int]) -> list[RetentionProposal]:
    query = select(RetentionProposal).where(
        col(RetentionProposal.id).in_(ids), RetentionProposal.status == ProposalStatus.PROPOSED
    )
    return list(session.execute(query).scalars())


def approve(session: Session, *, ids: list[int], actor_id: int | None) -> list[Erased]:
    """Erase the proposed contacts (Art. 17(1)(a): no longer needed); the caller commits,
    then runs each erasure's ``after_commit``."""
    erased = []
    for proposal in _open(session, ids):
        contact = session.get(Contact, proposal.contact_id)
        if contact is not None:
            erased.append(
                erase_contact(
                    session,
                    contact=contact,
                    request_id=None,
                    keep_consents_on=None,
                    actor_id=actor_id,
                )
            )
    return erased


def dismiss(session: Session, *, ids: list[int], actor_id: int | None) -> int:
    """Keep them: the proposal stays dismissed and is not made again."""
    chosen = [p.id for p in _open(session, ids)]
    session.execute(
        update(RetentionProposal)
        .where(col(RetentionProposal.id).in_(chosen))
        .values(status=ProposalStatus.DISMISSED, decided_by_id=actor_id, decided_at=utcnow())
    )
    audit.record_many(
        session,
        actor_id=actor_id,
        action="retention_proposal.dismiss",
        entity_type="retention_proposal",
        entity_ids=chosen,
    )
    return len(chosen)
