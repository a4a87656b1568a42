"""Data protection pages: the DPO's requests, the register of processing, a contact's
consents, and the page where a contact withdraws consent by their link."""

from datetime import datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ValidationError
from sqlmodel import Session
from starlette.background import BackgroundTasks

from crm.contacts import service as contact_service
from crm.core import audit
from crm.core.db import SessionDep
from crm.core.errors import N_, CRMError, Invalid
from crm.core.forms import FormErrors, picked_id
from crm.core.i18n import request_zone
from crm.core.schemas import parse_day
from crm.core.security import safe_next
from crm.core.templating import flash, render, run_change
from crm.gdpr import cases, erasure, export, retention
from crm.gdpr.deps import Dpo, PrivacyOfficer, RequestDep
from crm.gdpr.models import (
    ErasureRequest,
    PrivacyRequest,
    PrivacySettingsPublic,
    RequestCreate,
    RequestExtension,
    RequestKind,
    RequestUpdate,
)
from crm.gdpr.routes import after_erasures, export_dir, export_response
from crm.mail import files as mail_files
from crm.users import service as user_service
from crm.users.models import Role

router = APIRouter(tags=["pages"], include_in_schema=False)


def _received_at(request: Request, day: str) -> datetime | None:
    """A date from a form, read as the start of that day in the user's zone."""
    if not day:
        return None
    zone = request_zone(request)
    try:
        return datetime.combine(parse_day(day), time(9), tzinfo=zone)
    except ValueError:
        return None


@router.get("/privacy", response_class=HTMLResponse)
def dashboard(
    request: Request, session: SessionDep, officer: PrivacyOfficer, closed: bool = False
) -> HTMLResponse:
    """The open requests by due date, overdue ones first; with ``closed``, all of them."""
    found, _ = cases.list_requests(session, open_only=not closed, limit=200)
    return render(
        request,
        "gdpr/dashboard.html",
        {
            "requests": found,
            "closed": closed,
            "overdue": {r.id for r in found if cases.is_overdue(r)},
            "handlers": dict(user_service.active_user_choices(session)),
            "settings": cases.privacy_settings(session),
            "is_dpo": officer.has_role(Role.DPO),
        },
    )


class RequestForm(BaseModel):
    kind: str = RequestKind.ACCESS
    requester_name: str = ""
    requester_email: str = ""
    contact_id: str = ""
    find: str = ""  # what was typed into the contact finder
    received_on: str = ""
    notes: str = ""


def _request_form(
    request: Request,
    session: Session,
    form: RequestForm,
    errors: FormErrors | dict[str, str],
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "gdpr/request_form.html",
        {
            "form": form,
            "errors": errors,
            "kinds": list(RequestKind),
            "chosen": contact_service.finder_choice(
                session, kind="contacts", record_id=form.contact_id
            ),
        },
        status_code=status_code,
    )


@router.get("/privacy/requests/new", response_class=HTMLResponse)
def new_request_page(
    request: Request, session: SessionDep, officer: PrivacyOfficer, contact_id: str = ""
) -> HTMLResponse:
    return _request_form(request, session, RequestForm(contact_id=contact_id), {})


@router.post("/privacy/requests", response_class=HTMLResponse)
def create_request(
    request: Request,
    session: SessionDep,
    officer: PrivacyOfficer,
    form: Annotated[RequestForm, Form()],
) -> Response:
    errors = FormErrors(request.state.language)
    try:
        with session.begin_nested():
            data = RequestCreate(
                kind=form.kind,
                requester_name=form.requester_name,
                requester_email=form.requester_email,
                contact_id=picked_id(form.contact_id, find=form.find, field="contact_id"),
                received_at=_received_at(request, form.received_on),
                notes=form.notes,
            )
            found = cases.create_request(session, data=data, actor_id=officer.id)
    except (ValidationError, CRMError) as exc:
        errors.add_error(exc)
        return _request_form(request, session, form, errors, status_code=422)
    flash(
        request, "success", N_("Request recorded; it is due on %(due)s."), due=str(found.due_date)
    )
    return RedirectResponse(f"/privacy/requests/{found.id}", status_code=303)


@router.get("/privacy/requests/{request_id}", response_class=HTMLResponse)
def request_page(
    request: Request, session: SessionDep, found: RequestDep, officer: PrivacyOfficer
) -> HTMLResponse:
    contact = (
        contact_service.get_contact(session, contact_id=found.contact_id)
        if found.contact_id
        else None
    )
    erased = erasure.of_request(session, request_id=found.id)
    handlers = user_service.active_user_choices(session)
    return render(
        request,
        "gdpr/request.html",
        {
            "found": found,
            "contact": contact,
            "overdue": cases.is_overdue(found),
            "handlers": handlers,
            "history": audit.events_for(session, entity_type="privacy_request", entity_id=found.id),
            "erased": erased and erasure.public(session, erased),
            "users": dict(handlers),
        },
    )


def _case_change(
    request: Request, session: Session, found: PrivacyRequest, action: Any
) -> Response:
    back = f"/privacy/requests/{found.id}"
    return run_change(request, session, action, done=N_("Changes saved."), back=back)


@router.post("/privacy/requests/{request_id}")
def update_request(
    request: Request,
    session: SessionDep,
    found: RequestDep,
    officer: PrivacyOfficer,
    status: Annotated[str, Form()] = "",
    handler_id: Annotated[str, Form()] = "",
    notes: Annotated[str | None, Form()] = None,
    outcome: Annotated[str, Form()] = "",
    refusal_ground: Annotated[str, Form()] = "",
    identity_verified: Annotated[bool, Form()] = False,
) -> Response:
    """One form per step of the case: verify, hand over, note, close or refuse."""
    values: dict[str, Any] = {}
    if status:
        values["status"] = status
    if handler_id.isdigit():
        values["handler_id"] = int(handler_id)
    if notes is not None:
        values["notes"] = notes
    if outcome:
        values["outcome"] = outcome
    if refusal_ground:
        values["refusal_ground"] = refusal_ground
    if identity_verified:
        values["identity_verified"] = True
    return _case_change(
        request,
        session,
        found,
        lambda: cases.update_request(
            session, found=found, data=RequestUpdate(**values), actor_id=officer.id
        ),
    )


@router.post("/privacy/requests/{request_id}/extend")
def extend_request(
    request: Request,
    session: SessionDep,
    found: RequestDep,
    officer: PrivacyOfficer,
    months: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    return _case_change(
        request,
        session,
        found,
        lambda: cases.extend_request(
            session,
            found=found,
            data=RequestExtension(months=months or 0, reason=reason),
            actor_id=officer.id,
        ),
    )


@router.post("/privacy/requests/{request_id}/export")
def make_export(
    request: Request, session: SessionDep, found: RequestDep, officer: PrivacyOfficer
) -> Response:
    return _case_change(
        request,
        session,
        found,
        lambda: export.write_export(
            session,
            found=found,
            directory=export_dir(request),
            attachments=mail_files.directory(request.app.state.settings),
            actor_id=officer.id,
            language=request.state.language,
        ),
    )


@router.post("/privacy/requests/{request_id}/erase")
def erase(
    request: Request,
    session: SessionDep,
    found: RequestDep,
    officer: PrivacyOfficer,
    keep_consents_on: Annotated[str, Form()] = "",
) -> Response:
    """Erase the request's contact; the tombstone goes to the erasure log afterwards."""
    done: list[erasure.Erased] = []

    def action() -> erasure.Erased:
        data = ErasureRequest(keep_consents_on=keep_consents_on)
        done.append(erasure.erase_request(session, found=found, data=data, actor_id=officer.id))
        return done[0]

    response = run_change(
        request,
        session,
        action,
        done=N_("Erased. Redact the mentions listed below, if any."),
        back=f"/privacy/requests/{found.id}",
    )
    response.background = BackgroundTasks()
    after_erasures(request, response.background, done)
    return response


@router.get("/privacy/retention", response_class=HTMLResponse)
def retention_page(request: Request, session: SessionDep, officer: PrivacyOfficer) -> HTMLResponse:
    """Contacts the daily job found with no remaining reason to keep them."""
    return render(
        request,
        "gdpr/retention.html",
        {
            "proposals": retention.proposals(session),
            "settings": cases.privacy_settings(session),
        },
    )


@router.post("/privacy/retention")
def decide_retention(
    request: Request,
    session: SessionDep,
    officer: PrivacyOfficer,
    ids: Annotated[list[int], Form()] = [],  # noqa: B006 (FastAPI copies form defaults)
    decision: Annotated[str, Form()] = "",
) -> Response:
    """Erase or keep the ticked contacts, in one step."""
    erased: list[erasure.Erased] = []

    def action() -> None:
        if not ids:
            raise Invalid(N_("Tick at least one contact."), field="ids")
        if decision == "erase":
            erased.extend(retention.approve(session, ids=ids, actor_id=officer.id))
        else:
            retention.dismiss(session, ids=ids, actor_id=officer.id)

    response = run_change(
        request,
        session,
        action,
        done=N_("Erased.") if decision == "erase" else N_("Kept."),
        back="/privacy/retention",
    )
    response.background = BackgroundTasks()
    after_erasures(request, response.background, erased)
    return response


@router.post("/privacy/mentions/{mention_id}/redacted")
def mark_redacted(
    request: Request,
    session: SessionDep,
    mention_id: int,
    officer: PrivacyOfficer,
    next: Annotated[str, Form()] = "",
) -> Response:
    return run_change(
        request,
        session,
        lambda: erasure.mark_redacted(session, mention_id=mention_id, actor_id=officer.id),
        done=N_("Marked as redacted."),
        back=safe_next(next, "/privacy"),
    )


@router.get("/privacy/requests/{request_id}/export")
def download_export(request: Request, found: RequestDep, officer: PrivacyOfficer) -> Response:
    """The latest export, for a week after it was made."""
    return export_response(export.export_path(found, directory=export_dir(request)))


@router.post("/privacy/settings")
def privacy_settings(
    request: Request,
    session: SessionDep,
    dpo: Dpo,
    admins_may_handle: Annotated[bool, Form()] = False,
    lead_retention_months: Annotated[str, Form()] = "24",
    mail_triage_days: Annotated[str, Form()] = "30",
) -> Response:
    return run_change(
        request,
        session,
        lambda: cases.update_settings(
            session,
            data=PrivacySettingsPublic(
                admins_may_handle=admins_may_handle,
                lead_retention_months=lead_retention_months,
                mail_triage_days=mail_triage_days,
            ),
            actor_id=dpo.id,
        ),
        done=N_("Changes saved."),
        back="/privacy",
    )
