"""Journeys and their phases, enrollments, moves, and time in phase. No HTTP in here."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, literal, update
from sqlmodel import Session, col, select

from crm.contacts import service as contact_service
from crm.core import audit, lists
from crm.core.db import UTCDateTime, insert_rows, utcnow
from crm.core.errors import N_, Conflict, Invalid, NotFound
from crm.core.i18n import translations
from crm.core.schemas import key_for
from crm.core.sql import days_between
from crm.journeys import attribution
from crm.journeys.models import (
    DEFAULT_EXIT_REASONS,
    Cause,
    Enrollment,
    EnrollmentCreate,
    EnrollmentStatus,
    ExitReason,
    Journey,
    JourneyCreate,
    JourneyUpdate,
    MoveRequest,
    Phase,
    PhaseCreate,
    PhaseKind,
    PhaseUpdate,
)
from crm.journeys.models import PhaseTransition as Transition
from crm.journeys.templates import CLASSIC, TEMPLATES, JourneyTemplate

SECONDS_PER_DAY = 86_400
PHASE_ARCHIVED = "phase archived"


def seed_defaults(session: Session, *, language: str = "en") -> None:
    """The exit reasons that are missing, and the Classic journey on a new installation,
    named in the installation's language."""
    lists.seed(session, ExitReason, DEFAULT_EXIT_REASONS, language=language)
    if session.exec(select(func.count()).select_from(Journey)).one() == 0:
        name = translations(language).gettext(CLASSIC.name)
        _create_from_template(session, Journey(name=name), CLASSIC, language=language)
    session.flush()


def classic_journey(session: Session) -> Journey | None:
    """The first journey made from the Classic template, whatever it is called now."""
    query = select(Journey).where(Journey.template == CLASSIC.key).order_by(Journey.id)
    return session.exec(query).first()


# --- journeys and phases ----------------------------------------------------------------


def list_journeys(session: Session, *, archived: bool = False) -> list[Journey]:
    query = select(Journey).order_by(Journey.name)
    if not archived:
        query = query.where(col(Journey.is_archived).is_(False))
    return list(session.exec(query))


def get_journey(session: Session, *, journey_id: int) -> Journey:
    journey = session.get(Journey, journey_id)
    if journey is None:
        raise NotFound(N_("No such journey."))
    return journey


def phases_of(session: Session, journey: Journey, *, archived: bool = False) -> list[Phase]:
    query = select(Phase).where(Phase.journey_id == journey.id).order_by(Phase.position, Phase.id)
    if not archived:
        query = query.where(col(Phase.is_archived).is_(False))
    return list(session.exec(query))


def phases_with_targets(session: Session, *kinds: PhaseKind) -> list[Phase]:
    """Phases that set a target of days (of ``kinds``, or any)."""
    query = select(Phase).where(col(Phase.target_days).is_not(None))
    if kinds:
        query = query.where(col(Phase.kind).in_(kinds))
    return list(session.exec(query))


def phases_by_journey(session: Session, journey_ids: set[int]) -> dict[int, list[Phase]]:
    """The live phases of several journeys, in one query, each journey's in order."""
    found: dict[int, list[Phase]] = {journey_id: [] for journey_id in journey_ids}
    query = (
        select(Phase)
        .where(col(Phase.journey_id).in_(journey_ids), col(Phase.is_archived).is_(False))
        .order_by(Phase.position, Phase.id)
    )
    for phase in session.exec(query):
        found[phase.journey_id].append(phase)
    return found


def _check_name_free(session: Session, name: str, *, journey_id: int | None) -> None:
    found = session.exec(select(Journey.id).where(func.lower(Journey.name) == name.lower())).first()
    if found is not None and found != journey_id:
        raise Invalid(N_("A journey with this name exists already."), field="name")


def create_journey(
    session: Session, *, data: JourneyCreate, actor_id: int | None, language: str = "en"
) -> Journey:
    """A journey; from a template, its phases and map are written in ``language``."""
    _check_name_free(session, data.name, journey_id=None)
    template = None
    if data.template:
        template = TEMPLATES.get(data.template)
        if template is None:
            raise Invalid(N_("Choose one of the offered values."), field="template")
    journey = Journey.model_validate(data.model_dump())
    if template:
        _create_from_template(session, journey, template, language=language)
    return audit.save(session, journey, actor_id=actor_id, action="journey.create")


def _create_from_template(
    session: Session, journey: Journey, template: JourneyTemplate, *, language: str
) -> None:
    gettext = translations(language).gettext
    journey.template = template.key
    journey.description = journey.description or gettext(template.description)
    session.add(journey)
    session.flush()
    by_key: dict[str, Phase] = {}
    for position, spec in enumerate(template.phases):
        phase = Phase(
            journey_id=journey.id,
            key=spec.key,
            name=gettext(spec.name),
            kind=spec.kind,
            target_days=spec.target_days,
            position=position * 10,
            parent_id=by_key[spec.parent].id if spec.parent else None,
            **{row: gettext(text) for row, text in spec.map_rows.items()},
        )
        session.add(phase)
        session.flush()
        by_key[spec.key] = phase


def update_journey(
    session: Session, *, journey: Journey, data: JourneyUpdate, actor_id: int | None
) -> Journey:
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes:
        if not changes["name"]:
            raise Invalid(N_("This field is required."), field="name")
        _check_name_free(session, changes["name"], journey_id=journey.id)
    journey.sqlmodel_update({**changes, "updated_at": utcnow()})
    return audit.save(session, journey, actor_id=actor_id, action="journey.update", fields=changes)


def delete_journey(session: Session, *, journey: Journey, actor_id: int | None) -> None:
    """Only a journey nobody was ever enrolled in; one with history is archived instead."""
    used = session.exec(select(Enrollment.id).where(Enrollment.journey_id == journey.id)).first()
    if used is not None:
        raise Conflict(N_("This journey has history: archive it instead of deleting it."))
    audit.delete(session, journey, actor_id=actor_id, action="journey.delete")


def get_phase(session: Session, *, phase_id: int) -> Phase:
    phase = session.get(Phase, phase_id)
    if phase is None:
        raise NotFound(N_("No such phase."))
    return phase


def _check_parent(session: Session, phase: Phase, parent_id: int | None) -> None:
    """A parent of the same journey, and no phase its own ancestor."""
    seen = {phase.id}
    while parent_id is not None:
        if parent_id in seen:
            raise Invalid(N_("A phase cannot lie within itself."), field="parent_id")
        parent = session.get(Phase, parent_id)
        if parent is None or parent.journey_id != phase.journey_id:
            raise Invalid(N_("Choose a phase of this journey."), field="parent_id")
        seen.add(parent_id)
        parent_id = parent.parent_id


def add_phase(
    session: Session, *, journey: Journey, data: PhaseCreate, actor_id: int | None
) -> Phase:
    phases = phases_of(session, journey, archived=True)
    taken = {p.key for p in phases}
    if data.key and data.key in taken:
        raise Invalid(N_("A phase with this key exists already."), field="key")
    position = data.position
    if position is None:
        position = max((p.position for p in phases), default=-10) + 10
    phase = Phase.model_validate(
        data.model_dump(exclude={"key", "position"}),
        update={
            "journey_id": journey.id,
            "key": data.key or key_for(data.name, taken, fallback="phase"),
            "position": position,
        },
    )
    _check_parent(session, phase, phase.parent_id)
    return audit.save(session, phase, actor_id=actor_id, action="phase.create")


def update_phase(
    session: Session, *, phase: Phase, data: PhaseUpdate, actor_id: int | None
) -> Phase:
    changes = data.model_dump(exclude_unset=True)
    for required in ("name", "kind", "position"):
        if required in changes and changes[required] is None:
            raise Invalid(N_("This field is required."), field=required)
    if "parent_id" in changes:
        _check_parent(session, phase, changes["parent_id"])
    kind_changed = "kind" in changes and changes["kind"] != phase.kind
    phase.sqlmodel_update(changes)
    audit.save(session, phase, actor_id=actor_id, action="phase.update", fields=changes)
    if kind_changed:
        _recompute_purchases(session, phase.journey_id)
    return phase


def _purchased(at: Any) -> dict[str, Any]:
    """The values of a bulk update that records a first purchase at ``at`` (SQL)."""
    return {"purchased_at": at, "days_to_purchase": days_between(Enrollment.started_at, at)}


def _recompute_purchases(session: Session, journey_id: int) -> None:
    """Each enrollment's first entry into a purchase phase, after the kinds changed."""
    first = (
        select(func.min(Transition.at))
        .join(Phase, Phase.id == Transition.to_phase_id)
        .where(Transition.enrollment_id == Enrollment.id, Phase.kind == PhaseKind.PURCHASE)
        .scalar_subquery()
    )
    session.execute(
        update(Enrollment).where(Enrollment.journey_id == journey_id).values(**_purchased(first))
    )
    bought_before = exists().where(
        Enrollment.id == Transition.enrollment_id, Enrollment.purchased_at < Transition.at
    )
    session.execute(
        update(Transition)
        .where(Transition.journey_id == journey_id, col(Transition.to_phase_id).is_(None))
        .values(left_as_customer=bought_before)
    )


def reorder_phases(
    session: Session, *, journey: Journey, phase_ids: Sequence[int], actor_id: int | None
) -> list[Phase]:
    phases = {p.id: p for p in phases_of(session, journey, archived=True)}
    if sorted(phase_ids) != sorted(phases):
        raise Invalid(N_("Give every phase of the journey once."), field="phase_ids")
    for position, phase_id in enumerate(phase_ids):
        phases[phase_id].position = position * 10
    session.flush()
    audit.record(
        session,
        actor_id=actor_id,
        action="journey.reorder",
        entity_type="journey",
        entity_id=journey.id,
        fields=["position"],
    )
    return phases_of(session, journey)


def shift_phase(session: Session, *, phase: Phase, by: int, actor_id: int | None) -> None:
    """Swap a phase with its neighbour above (``by`` < 0) or below."""
    journey = get_journey(session, journey_id=phase.journey_id)
    ids = [p.id for p in phases_of(session, journey, archived=True)]
    index = ids.index(phase.id)
    other = min(max(index + (1 if by > 0 else -1), 0), len(ids) - 1)
    ids[index], ids[other] = ids[other], ids[index]
    reorder_phases(session, journey=journey, phase_ids=ids, actor_id=actor_id)


def archive_phase(
    session: Session, *, phase: Phase, move_to_id: int | None, actor_id: int | None
) -> Phase:
    """Archive a phase; the subjects in it move to ``move_to_id`` first, all at once."""
    in_phase = (Enrollment.phase_id == phase.id, Enrollment.status == EnrollmentStatus.ACTIVE)
    ids = list(session.exec(select(Enrollment.id).where(*in_phase)))
    if ids:
        if move_to_id is None:
            raise Invalid(
                N_("%(count)s subjects are in this phase: choose where they move."),
                field="move_to_id",
                count=len(ids),
            )
        target = _target_phase(session, phase.journey_id, move_to_id)
        if target.id == phase.id:
            raise Invalid(N_("Choose another phase."), field="move_to_id")
        now = utcnow()
        latest = session.exec(select(func.max(Enrollment.phase_since)).where(*in_phase)).one()
        at = max(now, latest)  # never before a stay began, whatever the clocks said
        holding = select(Enrollment.id).where(*in_phase)
        _close_stays(session, holding, at=at, to_phase_id=target.id, status=EnrollmentStatus.ACTIVE)
        insert_rows(
            session,
            Transition.__table__,
            [
                {
                    "enrollment_id": enrollment_id,
                    "journey_id": phase.journey_id,
                    "from_phase_id": phase.id,
                    "to_phase_id": target.id,
                    "status": EnrollmentStatus.ACTIVE,
                    "at": at,
                    "cause": Cause.MANUAL,
                    "reason": PHASE_ARCHIVED,
                    "by_id": actor_id,
                    "created_at": now,
                }
                for enrollment_id in ids
            ],
        )
        if target.kind == PhaseKind.PURCHASE:
            session.execute(
                update(Enrollment)
                .where(*in_phase, col(Enrollment.purchased_at).is_(None))
                .values(**_purchased(literal(at, UTCDateTime)))
            )
        session.execute(
            update(Enrollment)
            .where(*in_phase)
            .values(phase_id=target.id, phase_since=at, updated_at=now)
        )
        attribution.refresh(session, since=at, journey_id=phase.journey_id)
        audit.record_many(
            session,
            actor_id=actor_id,
            action="enrollment.move",
            entity_type="enrollment",
            entity_ids=ids,
            fields=["phase_id"],
        )
    phase.is_archived = True
    return audit.save(session, phase, actor_id=actor_id, action="phase.archive")


# --- enrollments and moves ------------------------------------------------------------


def get_enrollment(session: Session, *, enrollment_id: int) -> Enrollment:
    enrollment = session.get(Enrollment, enrollment_id)
    if enrollment is None:
        raise NotFound(N_("No such enrollment."))
    return enrollment


def enrollments_of(
    session: Session, *, contact_id: int | None = None, company_id: int | None = None
) -> list[Enrollment]:
    query = select(Enrollment).order_by(Enrollment.journey_id)
    if contact_id is not None:
        query = query.where(Enrollment.contact_id == contact_id)
    if company_id is not None:
        query = query.where(Enrollment.company_id == company_id)
    return list(session.exec(query))


def _target_phase(session: Session, journey_id: int, phase_id: int) -> Phase:
    phase = session.get(Phase, phase_id)
    if phase is None or phase.journey_id != journey_id:
        raise Invalid(N_("Choose a phase of this journey."), field="phase_id")
    if phase.is_archived:
        raise Invalid(N_("This phase is archived."), field="phase_id")
    return phase


def _exit_reason(session: Session, key: str | None) -> ExitReason:
    if not key:
        raise Invalid(N_("Give the reason for the exit."), field="exit_reason")
    return lists.by_key(session, ExitReason, key, field="exit_reason")


def enroll(session: Session, *, data: EnrollmentCreate, actor_id: int | None) -> Enrollment:
    journey = get_journey(session, journey_id=data.journey_id)
    if journey.is_archived:
        raise Invalid(N_("This journey is archived."), field="journey_id")
    phase = _target_phase(session, journey.id, data.phase_id)
    if data.contact_id is not None:
        found = contact_service.get_contact(session, contact_id=data.contact_id)
        subject = Enrollment.contact_id == data.contact_id
    else:
        found = contact_service.get_company(session, company_id=data.company_id)
        subject = Enrollment.company_id == data.company_id
    existing = session.exec(
        select(Enrollment).where(Enrollment.journey_id == journey.id, subject)
    ).first()
    if existing is not None:
        error = Conflict(N_("Already in this journey: move it instead."))
        error.details = {"existing_enrollment_id": existing.id}
        raise error
    at = data.at or utcnow()
    enrollment = Enrollment(
        journey_id=journey.id,
        contact_id=data.contact_id,
        company_id=data.company_id,
        segment=found.segment,
        phase_id=phase.id,
        phase_since=at,
        started_at=at,
        purchased_at=at if phase.kind == PhaseKind.PURCHASE else None,
        days_to_purchase=0.0 if phase.kind == PhaseKind.PURCHASE else None,
    )
    session.add(enrollment)
    session.flush()
    session.add(
        Transition(
            enrollment_id=enrollment.id,
            journey_id=journey.id,
            to_phase_id=phase.id,
            at=at,
            cause=data.cause,
            note=data.note,
            by_id=actor_id,
        )
    )
    session.flush()
    _attribute_since(session, enrollment, at)
    return audit.save(session, enrollment, actor_id=actor_id, action="enrollment.create")


def _attribute_since(session: Session, enrollment: Enrollment, at: datetime) -> None:
    """The subject's touchpoints from ``at`` on count toward its stays as they are now."""
    attribution.refresh(
        session,
        contact_id=enrollment.contact_id,
        company_id=enrollment.company_id,
        since=at,
        journey_id=enrollment.journey_id,
    )


def _close_stays(
    session: Session, enrollment_ids: Any, *, at: datetime, to_phase_id: int | None, status: str
) -> None:
    """End the open stays of the enrollments at ``at``, saying where they went; a stay in
    the phase they now enter again, or an exit with the status they now leave with again,
    learns when that happened."""
    session.execute(
        update(Transition)
        .where(col(Transition.enrollment_id).in_(enrollment_ids), col(Transition.until).is_(None))
        .values(
            until=at,
            days=days_between(Transition.at, literal(at, UTCDateTime)),
            next_phase_id=to_phase_id,
            next_status=status,
        )
    )
    same_step = (
        [Transition.to_phase_id == to_phase_id, Transition.at < at]
        if to_phase_id is not None
        else [col(Transition.to_phase_id).is_(None), Transition.status == status]
    )
    session.execute(
        update(Transition)
        .where(
            col(Transition.enrollment_id).in_(enrollment_ids),
            *same_step,
            col(Transition.reentered_at).is_(None),
        )
        .values(reentered_at=at)
    )


def enroll_in_phase(
    session: Session,
    *,
    phase_id: int | None,
    actor_id: int | None,
    contact_id: int | None = None,
    company_id: int | None = None,
) -> Enrollment:
    """Enrol a subject in the journey of ``phase_id``, in that phase (the pages' way)."""
    if phase_id is None:
        raise Invalid(N_("Choose a phase of this journey."), field="phase_id")
    phase = get_phase(session, phase_id=phase_id)
    data = EnrollmentCreate(
        journey_id=phase.journey_id, phase_id=phase.id, contact_id=contact_id, company_id=company_id
    )
    return enroll(session, data=data, actor_id=actor_id)


def move(
    session: Session, *, enrollment: Enrollment, data: MoveRequest, actor_id: int | None
) -> Enrollment:
    """Move to any phase of the journey, exit it, or re-enter after an exit."""
    # Moves of one enrollment take turns, each checked against where the one before left
    # it: two at once would otherwise both close the same stay and leave two open (on
    # PostgreSQL; SQLite's writers take turns anyway).
    session.refresh(enrollment, with_for_update=True)
    at = data.at or utcnow()
    since = enrollment.phase_since if enrollment.ended_at is None else enrollment.ended_at
    if at < since:
        raise Invalid(
            N_("The move cannot lie before the last one (%(since)s)."),
            field="at",
            since=since.isoformat(timespec="minutes"),
        )
    active = enrollment.status == EnrollmentStatus.ACTIVE
    if data.exit is not None:
        if not active:
            raise Conflict(N_("This subject has left the journey already."))
        to_phase, status = None, data.exit
        reason: ExitReason | None = _exit_reason(session, data.exit_reason)
    else:
        to_phase = _target_phase(session, enrollment.journey_id, data.phase_id)
        if active and to_phase.id == enrollment.phase_id:
            raise Invalid(N_("The subject is in this phase already."), field="phase_id")
        status, reason = EnrollmentStatus.ACTIVE, None
    _record(
        session,
        enrollment,
        to_phase=to_phase,
        status=status,
        at=at,
        request=data,
        actor_id=actor_id,
        reason=reason,
    )
    return audit.save(
        session, enrollment, actor_id=actor_id, action="enrollment.move", fields=["phase_id"]
    )


def _record(
    session: Session,
    enrollment: Enrollment,
    *,
    to_phase: Phase | None,
    status: EnrollmentStatus,
    at: datetime,
    request: MoveRequest,
    actor_id: int | None,
    reason: ExitReason | None = None,
) -> None:
    """Write the transition and bring the enrollment to its state after it."""
    reentry = enrollment.status != EnrollmentStatus.ACTIVE
    to_phase_id = to_phase.id if to_phase else None
    _close_stays(session, [enrollment.id], at=at, to_phase_id=to_phase_id, status=status)
    session.add(
        Transition(
            enrollment_id=enrollment.id,
            journey_id=enrollment.journey_id,
            from_phase_id=None if reentry else enrollment.phase_id,
            to_phase_id=to_phase_id,
            status=status,
            at=at,
            left_as_customer=to_phase is None
            and enrollment.purchased_at is not None
            and enrollment.purchased_at < at,
            cause=request.cause,
            exit_reason_id=reason.id if reason else None,
            reason=request.reason,
            note=request.note,
            by_id=actor_id,
        )
    )
    enrollment.status = status
    enrollment.updated_at = utcnow()
    if to_phase is None:
        enrollment.ended_at, enrollment.exit_reason_id = at, reason.id if reason else None
    else:
        enrollment.phase_id, enrollment.phase_since = to_phase.id, at
        enrollment.ended_at = enrollment.exit_reason_id = None
        if to_phase.kind == PhaseKind.PURCHASE and enrollment.purchased_at is None:
            enrollment.purchased_at = at
            enrollment.days_to_purchase = (at - enrollment.started_at).total_seconds() / 86_400
    session.flush()
    _attribute_since(session, enrollment, at)


def transitions_of(session: Session, *, enrollment: Enrollment) -> list[Transition]:
    query = (
        select(Transition)
        .where(Transition.enrollment_id == enrollment.id)
        .order_by(Transition.at, Transition.id)
    )
    return list(session.exec(query))


# --- time in phase ----------------------------------------------------------------------


@dataclass
class Stay:
    phase_id: int
    start: datetime
    end: datetime | None  # None: still there

    def days(self, now: datetime) -> float:
        return ((self.end or now) - self.start).total_seconds() / SECONDS_PER_DAY


def stays(transitions: Sequence[Transition]) -> list[Stay]:
    """The stays in phases that a history (in time order) describes."""
    result: list[Stay] = []
    for transition in transitions:
        if result and result[-1].end is None:
            result[-1].end = transition.at
        if transition.to_phase_id is not None:
            result.append(Stay(transition.to_phase_id, transition.at, None))
    return result


@dataclass
class PhaseTotal:
    phase_id: int
    entries: int
    days: float


def time_in_phases(transitions: Sequence[Transition], *, now: datetime) -> list[PhaseTotal]:
    """Entries and cumulative days per phase, in the order the phases were first entered."""
    totals: dict[int, PhaseTotal] = {}
    for stay in stays(transitions):
        total = totals.setdefault(stay.phase_id, PhaseTotal(stay.phase_id, 0, 0.0))
        total.entries += 1
        total.days += stay.days(now)
    return list(totals.values())
