"""Journeys: the JSON API for journeys, phases, enrollments and moves."""

from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from crm.contacts.deps import CompanyDep, ContactDep, Editor
from crm.core import lists
from crm.core.db import SessionDep, utcnow
from crm.core.errors import N_, NotFound
from crm.core.i18n import SiteLanguage
from crm.core.periods import ApiPeriod
from crm.journeys import analytics, journey_map
from crm.journeys import board as journey_board
from crm.journeys import service as journey_service
from crm.journeys.deps import EnrollmentDep, JourneyDep, PhaseDep
from crm.journeys.models import (
    Enrollment,
    EnrollmentCreate,
    EnrollmentPublic,
    ExitReason,
    Journey,
    JourneyCreate,
    JourneyPublic,
    JourneyUpdate,
    MembershipPublic,
    MoveRequest,
    PhaseCreate,
    PhaseOrder,
    PhasePublic,
    PhaseTime,
    PhaseUpdate,
    TransitionPublic,
)
from crm.users.deps import AdminUser, CurrentUser

api_router = APIRouter(prefix="/api/v1", tags=["journeys"])


def _journey_public(session: SessionDep, journey: Journey) -> JourneyPublic:
    phases = journey_service.phases_of(session, journey, archived=True)
    return JourneyPublic.model_validate(
        journey, update={"phases": [PhasePublic.model_validate(p) for p in phases]}
    )


def _exit_reason_keys(session: SessionDep) -> dict[int, str]:
    return {r.id: r.key for r in lists.entries(session, ExitReason, active_only=False)}


def _enrollment_public(
    session: SessionDep,
    enrollment: Enrollment,
    schema: type[EnrollmentPublic] = EnrollmentPublic,
    exit_reasons: dict[int, str] | None = None,
    **more: Any,
) -> Any:
    if exit_reasons is None:
        exit_reasons = _exit_reason_keys(session)
    now = utcnow()
    history = journey_service.transitions_of(session, enrollment=enrollment)
    totals = journey_service.time_in_phases(history, now=now)
    current = (enrollment.ended_at or now) - enrollment.phase_since
    return schema.model_validate(
        enrollment,
        update={
            "exit_reason": exit_reasons.get(enrollment.exit_reason_id),
            "days_in_phase": current.total_seconds() / journey_service.SECONDS_PER_DAY,
            "time_in_phases": [PhaseTime(**vars(total)) for total in totals],
            **more,
        },
    )


def _memberships_public(
    session: SessionDep, memberships: list[journey_board.Membership]
) -> list[MembershipPublic]:
    exit_reasons = _exit_reason_keys(session)
    return [
        _enrollment_public(
            session,
            m.enrollment,
            MembershipPublic,
            exit_reasons,
            journey_name=m.journey.name,
            phase_name=m.phase.name,
            via_company=m.via_company,
        )
        for m in memberships
    ]


@api_router.get("/contacts/{contact_id}/enrollments", response_model=list[MembershipPublic])
def api_contact_enrollments(
    session: SessionDep, contact: ContactDep, user: CurrentUser
) -> list[MembershipPublic]:
    """The contact's journeys, and its company's (``via_company``), as its page shows them."""
    return _memberships_public(session, journey_board.memberships(session, contact=contact))


@api_router.get("/companies/{company_id}/enrollments", response_model=list[MembershipPublic])
def api_company_enrollments(
    session: SessionDep, company: CompanyDep, user: CurrentUser
) -> list[MembershipPublic]:
    """The company's journeys."""
    return _memberships_public(session, journey_board.memberships(session, company=company))


@api_router.get("/journeys", response_model=list[JourneyPublic])
def api_journeys(
    session: SessionDep, user: CurrentUser, archived: bool = False
) -> list[JourneyPublic]:
    return [
        _journey_public(session, j)
        for j in journey_service.list_journeys(session, archived=archived)
    ]


@api_router.post("/journeys", response_model=JourneyPublic, status_code=201)
def api_create_journey(
    session: SessionDep, user: AdminUser, data: JourneyCreate, language: SiteLanguage
) -> JourneyPublic:
    """A journey; with a ``template``, its phases, map and description come from it,
    written in the installation's language (CRM_DEFAULT_LANGUAGE)."""
    journey = journey_service.create_journey(
        session, data=data, actor_id=user.id, language=language
    )
    return _journey_public(session, journey)


@api_router.get("/journeys/{journey_id}", response_model=JourneyPublic)
def api_journey(session: SessionDep, journey: JourneyDep, user: CurrentUser) -> JourneyPublic:
    return _journey_public(session, journey)


@api_router.patch("/journeys/{journey_id}", response_model=JourneyPublic)
def api_update_journey(
    session: SessionDep, journey: JourneyDep, user: AdminUser, data: JourneyUpdate
) -> JourneyPublic:
    journey = journey_service.update_journey(session, journey=journey, data=data, actor_id=user.id)
    return _journey_public(session, journey)


@api_router.delete("/journeys/{journey_id}", status_code=204)
def api_delete_journey(session: SessionDep, journey: JourneyDep, user: AdminUser) -> Response:
    journey_service.delete_journey(session, journey=journey, actor_id=user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@api_router.post("/journeys/{journey_id}/phases", response_model=PhasePublic, status_code=201)
def api_add_phase(
    session: SessionDep, journey: JourneyDep, user: AdminUser, data: PhaseCreate
) -> PhasePublic:
    phase = journey_service.add_phase(session, journey=journey, data=data, actor_id=user.id)
    return PhasePublic.model_validate(phase)


@api_router.put("/journeys/{journey_id}/phases/order", response_model=list[PhasePublic])
def api_reorder_phases(
    session: SessionDep, journey: JourneyDep, user: AdminUser, data: PhaseOrder
) -> list[PhasePublic]:
    phases = journey_service.reorder_phases(
        session, journey=journey, phase_ids=data.phase_ids, actor_id=user.id
    )
    return [PhasePublic.model_validate(p) for p in phases]


@api_router.patch("/phases/{phase_id}", response_model=PhasePublic)
def api_update_phase(
    session: SessionDep, phase: PhaseDep, user: AdminUser, data: PhaseUpdate
) -> PhasePublic:
    phase = journey_service.update_phase(session, phase=phase, data=data, actor_id=user.id)
    return PhasePublic.model_validate(phase)


@api_router.post("/phases/{phase_id}/archive", response_model=PhasePublic)
def api_archive_phase(
    session: SessionDep, phase: PhaseDep, user: AdminUser, move_to_id: int | None = None
) -> PhasePublic:
    phase = journey_service.archive_phase(
        session, phase=phase, move_to_id=move_to_id, actor_id=user.id
    )
    return PhasePublic.model_validate(phase)


@api_router.post("/enrollments", response_model=EnrollmentPublic, status_code=201)
def api_enroll(session: SessionDep, user: Editor, data: EnrollmentCreate) -> EnrollmentPublic:
    enrollment = journey_service.enroll(session, data=data, actor_id=user.id)
    return _enrollment_public(session, enrollment)


@api_router.get("/enrollments/{enrollment_id}", response_model=EnrollmentPublic)
def api_enrollment(
    session: SessionDep, enrollment: EnrollmentDep, user: CurrentUser
) -> EnrollmentPublic:
    return _enrollment_public(session, enrollment)


@api_router.post("/enrollments/{enrollment_id}/move", response_model=EnrollmentPublic)
def api_move(
    session: SessionDep, enrollment: EnrollmentDep, user: Editor, data: MoveRequest
) -> EnrollmentPublic:
    enrollment = journey_service.move(session, enrollment=enrollment, data=data, actor_id=user.id)
    return _enrollment_public(session, enrollment)


@api_router.get("/enrollments/{enrollment_id}/transitions", response_model=list[TransitionPublic])
def api_transitions(
    session: SessionDep, enrollment: EnrollmentDep, user: CurrentUser
) -> list[TransitionPublic]:
    reasons = _exit_reason_keys(session)
    return [
        TransitionPublic.model_validate(t, update={"exit_reason": reasons.get(t.exit_reason_id)})
        for t in journey_service.transitions_of(session, enrollment=enrollment)
    ]


class BoardColumn(BaseModel):
    phase_id: int
    count: int
    cards: list[journey_board.Card]
    next_cursor: str | None = Field(
        description="Pass as ``cursor`` to /journeys/{id}/phases/{phase_id}/cards for more."
    )


@api_router.get("/journeys/{journey_id}/board", response_model=list[BoardColumn])
def api_board(
    session: SessionDep,
    journey: JourneyDep,
    user: CurrentUser,
    owner: int | None = None,
    segment: str | None = None,
    stale: bool = False,
) -> list[BoardColumn]:
    filters = journey_board.BoardFilter(owner_id=owner, segment=segment or None, stale=stale)
    return [
        BoardColumn(
            phase_id=column.phase.id,
            count=column.count,
            cards=column.cards,
            next_cursor=column.next_cursor,
        )
        for column in journey_board.board(session, journey=journey, filters=filters)
    ]


@api_router.get("/journeys/{journey_id}/phases/{phase_id}/cards", response_model=BoardColumn)
def api_more_cards(
    session: SessionDep,
    journey: JourneyDep,
    phase: PhaseDep,
    user: CurrentUser,
    cursor: str | None = None,
    owner: int | None = None,
    segment: str | None = None,
    stale: bool = False,
) -> BoardColumn:
    """The next cards of one column, after ``cursor``; ``count`` is those on this page."""
    if phase.journey_id != journey.id:
        raise NotFound(N_("No such phase."))
    filters = journey_board.BoardFilter(owner_id=owner, segment=segment or None, stale=stale)
    cards, next_cursor = journey_board.column_page(
        session, phase=phase, filters=filters, cursor=cursor
    )
    return BoardColumn(
        phase_id=phase.id,
        count=len(cards),
        cards=cards,
        next_cursor=next_cursor,
    )


@api_router.get("/journeys/{journey_id}/analytics", response_model=analytics.Figures)
def api_analytics(
    session: SessionDep,
    journey: JourneyDep,
    user: CurrentUser,
    period: ApiPeriod,
    segment: str | None = None,
) -> analytics.Figures:
    return analytics.figures(
        session, journey=journey, since=period.since, until=period.until, segment=segment or None
    )


@api_router.get("/journeys/{journey_id}/map", response_model=journey_map.JourneyMap)
def api_map(
    session: SessionDep,
    journey: JourneyDep,
    user: CurrentUser,
    period: ApiPeriod,
    segment: str | None = None,
) -> journey_map.JourneyMap:
    return journey_map.journey_map(
        session, journey=journey, since=period.since, until=period.until, segment=segment or None
    )
