"""A contact's consents and privacy flags on their page, and the page where a contact
withdraws consent by their own link."""

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse

from crm.contacts.deps import ContactDep
from crm.core.db import SessionDep
from crm.core.errors import N_
from crm.core.security import safe_next
from crm.core.templating import render, run_change
from crm.gdpr import cases, opt_in, rights
from crm.gdpr import service as gdpr_service
from crm.gdpr.deps import ConsentRecorder, PrivacyOfficer
from crm.gdpr.models import ConsentAction, ConsentChange, ConsentSource
from crm.gdpr.routes import client_of, confirm_link, consents_with_links, mailer
from crm.users import service as user_service
from crm.users.deps import CurrentUser
from crm.users.models import Role

router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/contacts/{contact_id}/consents", response_class=HTMLResponse)
def contact_consents(
    request: Request, session: SessionDep, contact: ContactDep, user: CurrentUser
) -> HTMLResponse:
    consents = gdpr_service.consents_of(session, contact=contact)
    return render(
        request,
        "gdpr/consents.html",
        {
            "contact": contact,
            "consents": consents_with_links(request, consents, contact_id=contact.id),
            "may_record": user.has_role(Role.SALES_REP, Role.ACCOUNT_MANAGER, Role.ADMIN, Role.DPO),
            "sources": [s for s in ConsentSource if s != ConsentSource.LINK],
            "users": dict(user_service.active_user_choices(session)),
            "may_restrict": cases.may_handle(session, user),
        },
    )


@router.post("/contacts/{contact_id}/consents")
def record_consent(
    request: Request,
    session: SessionDep,
    contact: ContactDep,
    user: ConsentRecorder,
    purpose: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "",
    source: Annotated[str, Form()] = ConsentSource.PHONE,
    note: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    ip, user_agent = client_of(request)
    withdrawn = action == ConsentAction.WITHDRAWN
    return run_change(
        request,
        session,
        lambda: gdpr_service.record_consent(
            session,
            contact=contact,
            data=ConsentChange(purpose=purpose, action=action, source=source, note=note),
            actor_id=user.id,
            ip=ip,
            user_agent=user_agent,
            default_language=request.app.state.settings.default_language,
        ),
        done=N_("Consent withdrawn.") if withdrawn else N_("Consent recorded."),
        back=safe_next(next, f"/contacts/{contact.id}"),
    )


@router.post("/contacts/{contact_id}/restriction")
def set_restriction(
    request: Request,
    session: SessionDep,
    contact: ContactDep,
    officer: PrivacyOfficer,
    restricted: Annotated[bool, Form()] = False,
) -> Response:
    return run_change(
        request,
        session,
        lambda: rights.set_restriction(
            session, contact=contact, restricted=restricted, actor_id=officer.id
        ),
        done=N_("Processing restricted.") if restricted else N_("Restriction lifted."),
        back=f"/contacts/{contact.id}",
    )


@router.post("/contacts/{contact_id}/objection")
def set_objection(
    request: Request,
    session: SessionDep,
    contact: ContactDep,
    user: ConsentRecorder,
    objected: Annotated[bool, Form()] = False,
) -> Response:
    return run_change(
        request,
        session,
        lambda: rights.set_objection(session, contact=contact, objected=objected, actor_id=user.id),
        done=N_("Objection recorded.") if objected else N_("Objection lifted."),
        back=f"/contacts/{contact.id}",
    )


@router.post("/contacts/{contact_id}/consents/double-opt-in")
def double_opt_in(
    request: Request,
    session: SessionDep,
    contact: ContactDep,
    user: ConsentRecorder,
    purpose: Annotated[str, Form()] = "",
) -> Response:
    return run_change(
        request,
        session,
        lambda: opt_in.start(
            session,
            contact=contact,
            purpose=purpose,
            actor_id=user.id,
            secret_key=request.app.state.settings.secret_key,
            link=confirm_link(request),
            send=mailer(request),
            default_language=request.app.state.settings.default_language,
        ),
        done=N_("The confirmation e-mail is on its way; the consent counts once they click."),
        back=f"/contacts/{contact.id}",
    )


@router.get("/consent/confirm/{token}", response_class=HTMLResponse, name="confirm_page")
def confirm_page(request: Request, session: SessionDep, token: str) -> HTMLResponse:
    """Asks before recording: mail scanners follow links, and must not consent."""
    secret = request.app.state.settings.secret_key
    purpose = opt_in.purpose_of(session, secret_key=secret, token=token)
    return render(request, "gdpr/confirm.html", {"purpose": purpose, "done": False})


@router.post("/consent/confirm/{token}", response_class=HTMLResponse)
def confirm(request: Request, session: SessionDep, token: str) -> HTMLResponse:
    ip, user_agent = client_of(request)
    secret = request.app.state.settings.secret_key
    opt_in.confirm(session, secret_key=secret, token=token, ip=ip, user_agent=user_agent)
    purpose = opt_in.purpose_of(session, secret_key=secret, token=token)
    return render(request, "gdpr/confirm.html", {"purpose": purpose, "done": True})


# --- the contact's own link -----------------------------------------------------------


@router.get("/consent/withdraw/{token}", response_class=HTMLResponse, name="withdraw_page")
def withdraw_page(request: Request, session: SessionDep, token: str) -> HTMLResponse:
    """Asks before withdrawing: mail scanners follow links, and must not withdraw."""
    _, purpose = gdpr_service.read_withdrawal_token(request.app.state.settings.secret_key, token)
    found = gdpr_service.purpose_by_key(session, purpose)
    return render(request, "gdpr/withdraw.html", {"purpose": found, "done": False})


@router.post("/consent/withdraw/{token}", response_class=HTMLResponse)
def withdraw(request: Request, session: SessionDep, token: str) -> HTMLResponse:
    ip, user_agent = client_of(request)
    secret = request.app.state.settings.secret_key
    gdpr_service.withdraw_by_link(
        session, secret_key=secret, token=token, ip=ip, user_agent=user_agent
    )
    _, purpose = gdpr_service.read_withdrawal_token(secret, token)
    found = gdpr_service.purpose_by_key(session, purpose)
    return render(request, "gdpr/withdraw.html", {"purpose": found, "done": True})
