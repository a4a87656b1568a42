"""Touchpoints: the quick log, timelines, the admin's lists, and the JSON API."""

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ValidationError

from crm.contacts.deps import CompanyDep, ContactDep, Editor
from crm.core import lists
from crm.core.db import SessionDep
from crm.core.errors import N_, CRMError
from crm.core.forms import FormErrors
from crm.core.lists import ListEntry, ListEntryCreate, ListEntryPublic, ListEntryUpdate
from crm.core.schemas import Moment
from crm.core.templating import flash, render
from crm.deals.models import LostReason
from crm.followups import service as followup_service
from crm.journeys.models import ExitReason
from crm.touchpoints import service as touchpoint_service
from crm.touchpoints.deps import TouchpointDep
from crm.touchpoints.models import (
    Channel,
    Direction,
    Initiator,
    Outcome,
    Touchpoint,
    TouchpointCreate,
    TouchpointPublic,
    TouchpointsPage,
    TouchpointUpdate,
)
from crm.users.deps import AdminUser, CurrentUser, Idempotent

router = APIRouter(tags=["pages"], include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", tags=["touchpoints"])

LISTS: dict[str, type[ListEntry]] = {
    "channels": Channel,
    "outcomes": Outcome,
    "exit_reasons": ExitReason,
    "lost_reasons": LostReason,
}
ListKind = Literal["channels", "outcomes", "exit_reasons", "lost_reasons"]
Limit = Annotated[int, Query(ge=1, le=200)]


class TouchpointQuery(BaseModel):
    contact_id: int | None = None
    company_id: int | None = None
    channel: str | None = None
    since: Moment | None = None
    until: Moment | None = None
    cursor: str | None = None
    limit: Limit = 50


# --- JSON API -----------------------------------------------------------------------


def _page(session: SessionDep, **query: Any) -> TouchpointsPage:
    items, cursor = touchpoint_service.list_touchpoints(session, **query)
    labels = touchpoint_service.Labels(session)
    return TouchpointsPage(items=[labels.public(t) for t in items], next_cursor=cursor)


@api_router.get("/touchpoints", response_model=TouchpointsPage)
def api_touchpoints(
    session: SessionDep, user: CurrentUser, query: Annotated[TouchpointQuery, Query()]
) -> TouchpointsPage:
    return _page(session, **query.model_dump())


@api_router.post("/touchpoints", response_model=TouchpointPublic, status_code=201)
def api_log_touchpoint(
    session: SessionDep, user: Editor, data: TouchpointCreate, once: Idempotent
) -> TouchpointPublic:
    touchpoint = once(
        data,
        Touchpoint,
        lambda: touchpoint_service.log_touchpoint(session, data=data, actor_id=user.id),
    )
    return touchpoint_service.Labels(session).public(touchpoint)


@api_router.get("/touchpoints/{touchpoint_id}", response_model=TouchpointPublic)
def api_touchpoint(
    session: SessionDep, touchpoint: TouchpointDep, user: CurrentUser
) -> TouchpointPublic:
    return touchpoint_service.Labels(session).public(touchpoint)


@api_router.patch("/touchpoints/{touchpoint_id}", response_model=TouchpointPublic)
def api_update_touchpoint(
    session: SessionDep, touchpoint: TouchpointDep, user: Editor, data: TouchpointUpdate
) -> TouchpointPublic:
    touchpoint_service.update_touchpoint(
        session, touchpoint=touchpoint, data=data, actor_id=user.id
    )
    return touchpoint_service.Labels(session).public(touchpoint)


@api_router.delete("/touchpoints/{touchpoint_id}", status_code=status.HTTP_204_NO_CONTENT)
def api_delete_touchpoint(session: SessionDep, touchpoint: TouchpointDep, user: Editor) -> None:
    touchpoint_service.delete_touchpoint(session, touchpoint=touchpoint, actor_id=user.id)


@api_router.get("/contacts/{contact_id}/timeline", response_model=TouchpointsPage)
def api_contact_timeline(
    session: SessionDep,
    contact: ContactDep,
    user: CurrentUser,
    cursor: str | None = None,
    limit: Limit = 50,
) -> TouchpointsPage:
    return _page(session, contact_id=contact.id, cursor=cursor, limit=limit)


@api_router.get("/companies/{company_id}/timeline", response_model=TouchpointsPage)
def api_company_timeline(
    session: SessionDep,
    company: CompanyDep,
    user: CurrentUser,
    cursor: str | None = None,
    limit: Limit = 50,
) -> TouchpointsPage:
    return _page(session, company_id=company.id, cursor=cursor, limit=limit)


@api_router.get("/lists/{kind}", response_model=list[ListEntryPublic])
def api_list_entries(session: SessionDep, user: CurrentUser, kind: ListKind) -> Any:
    return lists.entries(session, LISTS[kind], active_only=False)


@api_router.post("/lists/{kind}", response_model=ListEntryPublic, status_code=201)
def api_create_entry(
    session: SessionDep, admin: AdminUser, kind: ListKind, data: ListEntryCreate
) -> Any:
    return lists.create(session, LISTS[kind], data=data, actor_id=admin.id)


@api_router.patch("/lists/{kind}/{entry_id}", response_model=ListEntryPublic)
def api_update_entry(
    session: SessionDep, admin: AdminUser, kind: ListKind, entry_id: int, data: ListEntryUpdate
) -> Any:
    entry = lists.get(session, LISTS[kind], entry_id=entry_id)
    return lists.update(session, entry, data=data, actor_id=admin.id)


# --- the quick log and the timeline --------------------------------------------------


class QuickLogForm(BaseModel):
    """The quick log as posted: only the summary needs typing."""

    channel: str = "call"
    summary: str = ""
    outcome: str = ""
    sentiment: str = ""
    occurred_at: str = ""
    direction: str = Direction.OUTBOUND
    initiated_by: str = Initiator.COMPANY
    duration_minutes: str = ""
    nps: str = ""
    notes: str = ""

    def to_create(self, *, time_zone: str, **subject: int | None) -> TouchpointCreate:
        values: dict[str, Any] = self.model_dump()
        if self.occurred_at:
            # The browser sends the wall-clock time the user sees, in their zone.
            try:
                local = datetime.fromisoformat(self.occurred_at)
            except ValueError:
                local = None
            values["occurred_at"] = (
                local.replace(tzinfo=ZoneInfo(time_zone)) if local else self.occurred_at
            )
        return TouchpointCreate(**values, **subject)


def quick_log_context(
    labels: touchpoint_service.Labels,
    *,
    action: str,
    form: QuickLogForm | None = None,
    errors: FormErrors | None = None,
) -> dict[str, Any]:
    return {
        "labels": labels,
        "quick_log": {
            "action": action,
            "form": form or QuickLogForm(),
            "errors": errors or {},
            "channels": labels.offered_channels(),
            "outcomes": labels.offered_outcomes(),
        },
    }


def _log(
    request: Request,
    session: SessionDep,
    user: Editor,
    form: QuickLogForm,
    *,
    action: str,
    **subject: int | None,
) -> HTMLResponse:
    errors = FormErrors(request.state.language)
    try:
        data = form.to_create(time_zone=request.state.time_zone, **subject)
        touchpoint = touchpoint_service.log_touchpoint(session, data=data, actor_id=user.id)
    except (ValidationError, CRMError) as exc:
        errors.add_error(exc)
    labels = touchpoint_service.Labels(session)
    if errors:
        context = quick_log_context(labels, action=action, form=form, errors=errors)
        return render(
            request,
            "touchpoints/_logged.html",
            {**context, "touchpoint": None, "offer": []},
            status_code=422,
            headers={"HX-Retarget": "#quick-log", "HX-Reswap": "outerHTML"},
        )
    # Logging a touchpoint offers to complete the subject's open follow-ups with it.
    offer = followup_service.pending_for(session, **subject)
    return render(
        request,
        "touchpoints/_logged.html",
        {**quick_log_context(labels, action=action), "touchpoint": touchpoint, "offer": offer},
        status_code=201,
    )


@router.post("/contacts/{contact_id}/touchpoints", response_class=HTMLResponse)
def log_for_contact(
    request: Request,
    session: SessionDep,
    contact: ContactDep,
    user: Editor,
    form: Annotated[QuickLogForm, Form()],
) -> HTMLResponse:
    return _log(
        request,
        session,
        user,
        form,
        action=f"/contacts/{contact.id}/touchpoints",
        contact_id=contact.id,
    )


@router.post("/companies/{company_id}/touchpoints", response_class=HTMLResponse)
def log_for_company(
    request: Request,
    session: SessionDep,
    company: CompanyDep,
    user: Editor,
    form: Annotated[QuickLogForm, Form()],
) -> HTMLResponse:
    return _log(
        request,
        session,
        user,
        form,
        action=f"/companies/{company.id}/touchpoints",
        company_id=company.id,
    )


@router.post("/touchpoints/{touchpoint_id}/delete")
def delete_touchpoint(
    request: Request, session: SessionDep, touchpoint: TouchpointDep, user: Editor
) -> Response:
    back = (
        f"/contacts/{touchpoint.contact_id}"
        if touchpoint.contact_id
        else f"/companies/{touchpoint.company_id}"
    )
    touchpoint_service.delete_touchpoint(session, touchpoint=touchpoint, actor_id=user.id)
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=200)  # htmx removes the item it targeted
    flash(request, "success", N_("The touchpoint was deleted."))
    return RedirectResponse(back, status_code=303)


# --- the admin's lists ----------------------------------------------------------------


@router.get("/admin/lists", response_class=HTMLResponse)
def lists_page(request: Request, session: SessionDep, admin: AdminUser) -> HTMLResponse:
    return render(
        request,
        "touchpoints/lists.html",
        {
            "lists": {
                kind: lists.entries(session, model, active_only=False)
                for kind, model in LISTS.items()
            },
            "errors": FormErrors(request.state.language),
        },
    )


@router.post("/admin/lists/{kind}")
def create_entry(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    kind: ListKind,
    key: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    position: Annotated[str, Form()] = "0",
) -> Response:
    try:
        data = ListEntryCreate(key=key.strip(), name=name.strip(), position=position or 0)
        lists.create(session, LISTS[kind], data=data, actor_id=admin.id)
    except (ValidationError, CRMError) as exc:
        errors = FormErrors(request.state.language)
        errors.add_error(exc)
        flash(
            request,
            "error",
            N_("The entry was not added: %(reason)s"),
            reason="; ".join(errors.values()),
        )
        return RedirectResponse("/admin/lists", status_code=303)
    flash(request, "success", N_("Entry added."))
    return RedirectResponse("/admin/lists", status_code=303)


@router.post("/admin/lists/{kind}/{entry_id}")
def update_entry(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    kind: ListKind,
    entry_id: int,
    name: Annotated[str, Form()] = "",
    position: Annotated[str, Form()] = "0",
    is_active: Annotated[bool, Form()] = False,
) -> Response:
    entry = lists.get(session, LISTS[kind], entry_id=entry_id)
    try:
        data = ListEntryUpdate(name=name.strip(), position=position or 0, is_active=is_active)
    except ValidationError:
        flash(request, "error", N_("Some of the input is not valid."))
        return RedirectResponse("/admin/lists", status_code=303)
    lists.update(session, entry, data=data, actor_id=admin.id)
    flash(request, "success", N_("Changes saved."))
    return RedirectResponse("/admin/lists", status_code=303)
