"""Journey pages: the list, the admin's settings, the board, and the forms that enrol and
move subjects from the contact and company pages."""

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from pydantic import BaseModel

from crm.contacts.deps import EDITOR_ROLES, CompanyDep, ContactDep, Editor
from crm.core import lists
from crm.core.db import SessionDep
from crm.core.downloads import download
from crm.core.errors import N_, NotFound
from crm.core.exports import csv_lines
from crm.core.handlers import is_htmx
from crm.core.i18n import SiteLanguage
from crm.core.periods import FormPeriod
from crm.core.security import safe_next
from crm.core.templating import render, run_change
from crm.journeys import analytics, journey_map, stay_lengths
from crm.journeys import board as journey_board
from crm.journeys import service as journey_service
from crm.journeys.deps import EnrollmentDep, JourneyDep, PhaseDep
from crm.journeys.models import (
    MAP_ROWS,
    ExitReason,
    JourneyCreate,
    JourneyUpdate,
    MoveRequest,
    PhaseCreate,
    PhaseKind,
    PhaseUpdate,
)
from crm.journeys.templates import TEMPLATES
from crm.touchpoints.models import Channel
from crm.users import service as user_service
from crm.users.deps import AdminUser, CurrentUser

router = APIRouter(tags=["pages"], include_in_schema=False)


# --- list and settings ------------------------------------------------------------------


@router.get("/journeys", response_class=HTMLResponse)
def journeys_page(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    return render(
        request,
        "journeys/list.html",
        {"journeys": journey_service.list_journeys(session, archived=True), "templates": TEMPLATES},
    )


@router.post("/journeys")
def create_journey(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    language: SiteLanguage,
    name: Annotated[str, Form()] = "",
    template: Annotated[str, Form()] = "",
    segment: Annotated[str, Form()] = "",
) -> Response:
    return run_change(
        request,
        session,
        lambda: journey_service.create_journey(
            session,
            data=JourneyCreate(name=name, template=template or None, segment=segment),
            actor_id=admin.id,
            language=language,
        ),
        done=N_("Journey created."),
        back="/journeys",
        then=lambda journey: f"/journeys/{journey.id}/settings",
    )


@router.get("/journeys/{journey_id}/settings", response_class=HTMLResponse)
def settings_page(
    request: Request, session: SessionDep, journey: JourneyDep, admin: AdminUser
) -> HTMLResponse:
    return render(
        request,
        "journeys/settings.html",
        {
            "journey": journey,
            "phases": journey_service.phases_of(session, journey, archived=True),
            "kinds": list(PhaseKind),
            "map_rows": MAP_ROWS,
        },
    )


@router.post("/journeys/{journey_id}")
def update_journey(
    request: Request,
    session: SessionDep,
    journey: JourneyDep,
    admin: AdminUser,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    segment: Annotated[str, Form()] = "",
    is_archived: Annotated[bool, Form()] = False,
) -> Response:
    data = {"name": name, "description": description, "segment": segment}
    return run_change(
        request,
        session,
        lambda: journey_service.update_journey(
            session,
            journey=journey,
            data=JourneyUpdate(**data, is_archived=is_archived),
            actor_id=admin.id,
        ),
        done=N_("Changes saved."),
        back=f"/journeys/{journey.id}/settings",
    )


class PhaseForm(BaseModel):
    name: str = ""
    kind: str = PhaseKind.PRE_PURCHASE
    target_days: str = ""
    parent_id: str = ""
    behaviour: str = ""
    questions: str = ""
    typical_touchpoints: str = ""
    emotions: str = ""
    pain_points: str = ""


@router.post("/journeys/{journey_id}/phases")
def add_phase(
    request: Request,
    session: SessionDep,
    journey: JourneyDep,
    admin: AdminUser,
    form: Annotated[PhaseForm, Form()],
) -> Response:
    return run_change(
        request,
        session,
        lambda: journey_service.add_phase(
            session, journey=journey, data=PhaseCreate(**form.model_dump()), actor_id=admin.id
        ),
        done=N_("Phase added."),
        back=f"/journeys/{journey.id}/settings",
    )


@router.post("/phases/{phase_id}")
def update_phase(
    request: Request,
    session: SessionDep,
    phase: PhaseDep,
    admin: AdminUser,
    form: Annotated[PhaseForm, Form()],
) -> Response:
    return run_change(
        request,
        session,
        lambda: journey_service.update_phase(
            session, phase=phase, data=PhaseUpdate(**form.model_dump()), actor_id=admin.id
        ),
        done=N_("Changes saved."),
        back=f"/journeys/{phase.journey_id}/settings",
    )


@router.post("/phases/{phase_id}/shift")
def shift_phase(
    request: Request,
    session: SessionDep,
    phase: PhaseDep,
    admin: AdminUser,
    by: Annotated[int, Form()] = 1,
) -> Response:
    """Move a phase one place up or down: the keyboard's way to reorder."""
    journey_service.shift_phase(session, phase=phase, by=by, actor_id=admin.id)
    return RedirectResponse(
        f"/journeys/{phase.journey_id}/settings#phase-{phase.id}", status_code=303
    )


@router.post("/phases/{phase_id}/archive")
def archive_phase(
    request: Request,
    session: SessionDep,
    phase: PhaseDep,
    admin: AdminUser,
    move_to_id: Annotated[str, Form()] = "",
) -> Response:
    return run_change(
        request,
        session,
        lambda: journey_service.archive_phase(
            session,
            phase=phase,
            move_to_id=int(move_to_id) if move_to_id.isdigit() else None,
            actor_id=admin.id,
        ),
        done=N_("Phase archived."),
        back=f"/journeys/{phase.journey_id}/settings",
    )


# --- the board ------------------------------------------------------------------------------


class BoardQuery(BaseModel):
    owner: int | None = None
    segment: str | None = None
    stale: bool = False

    def filters(self) -> journey_board.BoardFilter:
        return journey_board.BoardFilter(
            owner_id=self.owner, segment=self.segment or None, stale=self.stale
        )

    def query_string(self) -> str:
        shown = {"owner": self.owner, "segment": self.segment, "stale": self.stale and "true"}
        return urlencode({key: value for key, value in shown.items() if value})


def _board_context(session: SessionDep, journey: Any, query: BoardQuery) -> dict[str, Any]:
    return {
        "journey": journey,
        "query": query,
        "owners": user_service.active_user_choices(session),
        "exit_reasons": lists.entries(session, ExitReason),
    }


@router.get("/journeys/{journey_id}", response_class=HTMLResponse)
def board_page(
    request: Request,
    session: SessionDep,
    journey: JourneyDep,
    user: CurrentUser,
    query: Annotated[BoardQuery, Query()],
) -> HTMLResponse:
    columns = journey_board.board(session, journey=journey, filters=query.filters())
    return render(
        request,
        "journeys/board.html",
        {**_board_context(session, journey, query), "columns": columns},
    )


@router.get("/journeys/{journey_id}/phases/{phase_id}/cards", response_class=HTMLResponse)
def more_cards(
    request: Request,
    session: SessionDep,
    journey: JourneyDep,
    phase: PhaseDep,
    user: CurrentUser,
    query: Annotated[BoardQuery, Query()],
    cursor: str | None = None,
) -> Response:
    if phase.journey_id != journey.id:
        raise NotFound(N_("No such phase."))
    if not is_htmx(request):  # a bookmark or a new tab: the whole board, not bare cards
        return RedirectResponse(f"/journeys/{journey.id}?{query.query_string()}", status_code=303)
    cards, next_cursor = journey_board.column_page(
        session, phase=phase, filters=query.filters(), cursor=cursor
    )
    return render(
        request,
        "journeys/_cards.html",
        {
            **_board_context(session, journey, query),
            "phase": phase,
            "cards": cards,
            "next_cursor": next_cursor,
        },
    )


# --- analytics ------------------------------------------------------------------------------


@router.get("/journeys/{journey_id}/analytics", response_class=HTMLResponse)
def analytics_page(
    request: Request,
    session: SessionDep,
    journey: JourneyDep,
    user: CurrentUser,
    period: FormPeriod,
    segment: str = "",
) -> HTMLResponse:
    return render(
        request,
        "journeys/analytics.html",
        {
            "journey": journey,
            "figures": analytics.figures(
                session, journey=journey, since=period.since, until=period.until, segment=segment
            ),
            "phases": {p.id: p for p in journey_service.phases_of(session, journey, archived=True)},
            "first": period.first,
            "last": period.last,
            "segment": segment,
            "bands": stay_lengths.BANDS,
        },
    )


@router.get("/journeys/{journey_id}/map", response_class=HTMLResponse)
def map_page(
    request: Request,
    session: SessionDep,
    journey: JourneyDep,
    user: CurrentUser,
    period: FormPeriod,
    segment: str = "",
) -> HTMLResponse:
    found = journey_map.journey_map(
        session, journey=journey, since=period.since, until=period.until, segment=segment
    )
    return render(
        request,
        "journeys/map.html",
        {
            "journey": journey,
            "map": found,
            "map_rows": MAP_ROWS,
            "channels": {c.key: c.name for c in lists.entries(session, Channel, active_only=False)},
            "first": period.first,
            "last": period.last,
            "segment": segment,
        },
    )


@router.get("/journeys/{journey_id}/map.csv")
def map_csv(
    session: SessionDep,
    journey: JourneyDep,
    user: CurrentUser,
    period: FormPeriod,
    segment: str = "",
) -> StreamingResponse:
    found = journey_map.journey_map(
        session, journey=journey, since=period.since, until=period.until, segment=segment
    )
    return _csv(["phase", "row", "value"], journey_map.csv_rows(found), f"journey-{journey.id}-map")


@router.get("/journeys/{journey_id}/analytics.csv")
def analytics_csv(
    session: SessionDep,
    journey: JourneyDep,
    user: CurrentUser,
    period: FormPeriod,
    segment: str = "",
) -> StreamingResponse:
    figures = analytics.figures(
        session, journey=journey, since=period.since, until=period.until, segment=segment
    )
    names = {p.id: p.name for p in journey_service.phases_of(session, journey, archived=True)}
    rows = analytics.csv_rows(figures, names)
    return _csv(
        ["figure", "phase_or_month", "measure", "value"], rows, f"journey-{journey.id}-analytics"
    )


def _csv(header: list[str], rows: list[Any], name: str) -> StreamingResponse:
    return download(
        csv_lines(header, rows), filename=f"{name}.csv", media_type="text/csv; charset=utf-8"
    )


# --- enrolling and moving from the pages -------------------------------------------------------


class MoveForm(BaseModel):
    to: str = ""  # a phase id, or "exit:<status>"
    exit_reason: str = ""
    reason: str = ""
    note: str = ""
    next: str = ""

    def to_request(self) -> MoveRequest:
        if self.to.startswith("exit:"):
            return MoveRequest(
                exit=self.to.removeprefix("exit:"),
                exit_reason=self.exit_reason,
                reason=self.reason,
                note=self.note,
            )
        return MoveRequest(phase_id=self.to or None, reason=self.reason, note=self.note)


@router.post("/enrollments/{enrollment_id}/move")
def move_enrollment(
    request: Request,
    session: SessionDep,
    enrollment: EnrollmentDep,
    user: Editor,
    form: Annotated[MoveForm, Form()],
) -> Response:
    return run_change(
        request,
        session,
        lambda: journey_service.move(
            session, enrollment=enrollment, data=form.to_request(), actor_id=user.id
        ),
        done=N_("Moved."),
        back=safe_next(form.next, f"/journeys/{enrollment.journey_id}"),
    )


def _enroll(
    request: Request, session: SessionDep, user: Any, phase_id: str, back: str, **subject: int
) -> Response:
    return run_change(
        request,
        session,
        lambda: journey_service.enroll_in_phase(
            session,
            phase_id=int(phase_id) if phase_id.isdigit() else None,
            actor_id=user.id,
            **subject,
        ),
        done=N_("Added to the journey."),
        back=back,
    )


@router.post("/contacts/{contact_id}/enrollments")
def enroll_contact(
    request: Request,
    session: SessionDep,
    contact: ContactDep,
    user: Editor,
    phase_id: Annotated[str, Form()] = "",
) -> Response:
    back = f"/contacts/{contact.id}"
    return _enroll(request, session, user, phase_id, back, contact_id=contact.id)


@router.post("/companies/{company_id}/enrollments")
def enroll_company(
    request: Request,
    session: SessionDep,
    company: CompanyDep,
    user: Editor,
    phase_id: Annotated[str, Form()] = "",
) -> Response:
    back = f"/companies/{company.id}"
    return _enroll(request, session, user, phase_id, back, company_id=company.id)


# --- a subject's journeys ---------------------------------------------------------------------


def _memberships(
    request: Request, session: SessionDep, user: Any, *, url: str, name: str, **subject: Any
) -> HTMLResponse:
    may_change = user.has_role(*EDITOR_ROLES)
    memberships = journey_board.memberships(session, **subject)
    joined = {m.journey.id for m in memberships if not m.via_company}
    return render(
        request,
        "journeys/memberships.html",
        {
            "subject_url": url,
            "name": name,
            "memberships": memberships,
            "may_change": may_change,
            "journey_choices": [
                (journey, phases)
                for journey, phases in journey_board.journey_choices(session)
                if journey.id not in joined
            ]
            if may_change
            else [],
            "exit_reasons": lists.entries(session, ExitReason) if may_change else [],
        },
    )


@router.get("/contacts/{contact_id}/journeys", response_class=HTMLResponse)
def contact_journeys(
    request: Request, session: SessionDep, contact: ContactDep, user: CurrentUser
) -> HTMLResponse:
    url = f"/contacts/{contact.id}"
    return _memberships(request, session, user, url=url, name=contact.name, contact=contact)


@router.get("/companies/{company_id}/journeys", response_class=HTMLResponse)
def company_journeys(
    request: Request, session: SessionDep, company: CompanyDep, user: CurrentUser
) -> HTMLResponse:
    url = f"/companies/{company.id}"
    return _memberships(request, session, user, url=url, name=company.name, company=company)
