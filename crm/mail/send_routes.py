"""Sending mail to a contact: from their page and through the API, retrying a failed
mail, and the one-click unsubscribe that marketing mail carries."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import HTMLResponse

from crm.contacts.deps import CompanyDep, ContactDep, Editor
from crm.contacts.models import Company, Contact
from crm.core.db import SessionDep
from crm.core.errors import N_
from crm.core.templating import render, run_change
from crm.gdpr import service as gdpr_service
from crm.gdpr.routes import client_of
from crm.mail import drafts, sending
from crm.mail.models import MailSend, OutboxMail, OutboxPage, OutboxPublic, OutboxStatus
from crm.users.deps import CurrentUser

router = APIRouter(tags=["pages"], include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", tags=["mail"])

Text = Annotated[str, Form()]


def valid_outgoing_id(outgoing_id: int, session: SessionDep) -> OutboxMail:
    return sending.get_outgoing(session, outgoing_id=outgoing_id)


OutgoingDep = Annotated[OutboxMail, Depends(valid_outgoing_id)]


def _unsubscribe_links(request: Request) -> Any:
    """For a withdrawal token: the one-click URL (for the mail's header) and the page (for
    the text, where a person asks first)."""
    return lambda token: (
        str(request.url_for("unsubscribe", token=token)),
        str(request.url_for("withdraw_page", token=token)),
    )


@api_router.post("/emails", response_model=OutboxPublic, status_code=201)
def api_send_mail(request: Request, session: SessionDep, user: Editor, data: MailSend) -> Any:
    """Queue a mail to a contact: it is a touchpoint at once and goes out within a
    minute. Marketing mail needs their consent to direct marketing (else 409)."""
    return sending.queue(
        session,
        data=data,
        sender=user,
        settings=request.app.state.settings,
        unsubscribe_links=_unsubscribe_links(request),
    )


@api_router.get("/emails", response_model=OutboxPage)
def api_outbox(
    session: SessionDep,
    user: CurrentUser,
    contact_id: int | None = None,
    status: OutboxStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> OutboxPage:
    items, next_cursor = sending.list_outgoing(
        session, contact_id=contact_id, status=status, cursor=cursor, limit=limit
    )
    return OutboxPage(items=items, next_cursor=next_cursor)


@api_router.get("/emails/{outgoing_id}", response_model=OutboxPublic)
def api_outgoing(session: SessionDep, user: CurrentUser, outgoing: OutgoingDep) -> Any:
    return outgoing


@api_router.post("/emails/{outgoing_id}/retry", response_model=OutboxPublic)
def api_retry(session: SessionDep, user: Editor, outgoing: OutgoingDep) -> Any:
    """Queue a failed mail again."""
    return sending.retry(session, outgoing=outgoing)


@api_router.post("/unsubscribe/{token}", name="unsubscribe", status_code=200)
def api_unsubscribe(request: Request, session: SessionDep, token: str) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe from marketing mail: the mail client posts here,
    and the withdrawal goes into the consent ledger. Needs no login: the link is the key."""
    ip, user_agent = client_of(request)
    gdpr_service.withdraw_by_link(
        session,
        secret_key=request.app.state.settings.secret_key,
        token=token,
        ip=ip,
        user_agent=user_agent,
    )
    return {"status": "unsubscribed"}


def _compose_page(
    request: Request,
    session: SessionDep,
    user: Editor,
    *,
    contact: Contact | None,
    company: Company | None = None,
    to: str = "",
    template: str = "",
    reply_to: str = "",
    followup: str = "",
) -> HTMLResponse:
    """The compose form as a page; as the block ``compose`` for an htmx request, which
    the contact and company pages open in place."""
    draft = drafts.compose(
        session,
        contact=contact,
        company_id=company.id if company else None,
        recipient_id=_number(to),
        user=user,
        default_language=request.app.state.settings.default_language,
        template_id=_number(template),
        reply_to=_number(reply_to),
        followup_id=_number(followup),
    )
    return render(
        request,
        "mail/compose.html",
        {"contact": draft.contact, "company": company, "draft": draft},
    )


def _number(value: str) -> int | None:
    """A link's id parameter; anything else means none, as an empty choice does."""
    return int(value) if value.isdigit() else None


@router.get("/contacts/{contact_id}/compose", response_class=HTMLResponse)
def compose_to_contact(
    request: Request,
    session: SessionDep,
    user: Editor,
    contact: ContactDep,
    template: str = "",
    reply_to: str = "",
    followup: str = "",
) -> HTMLResponse:
    return _compose_page(
        request,
        session,
        user,
        contact=contact,
        template=template,
        reply_to=reply_to,
        followup=followup,
    )


@router.get("/companies/{company_id}/compose", response_class=HTMLResponse)
def compose_at_company(
    request: Request,
    session: SessionDep,
    user: Editor,
    company: CompanyDep,
    to: str = "",
    template: str = "",
) -> HTMLResponse:
    """Mail to one of the company's people, picked first."""
    return _compose_page(
        request, session, user, contact=None, company=company, to=to, template=template
    )


def _send(
    request: Request,
    session: SessionDep,
    user: Editor,
    *,
    typed: dict[str, str],
    back: str,
    company_id: int | None = None,
) -> Response:
    """Queue the compose form's mail; blanks mean none (a form sends every field)."""
    values = {name: value for name, value in typed.items() if value}
    return run_change(
        request,
        session,
        lambda: sending.queue(
            session,
            data=MailSend(**values),
            sender=user,
            settings=request.app.state.settings,
            unsubscribe_links=_unsubscribe_links(request),
            company_id=company_id,
        ),
        done=N_("Mail queued: it goes out within a minute."),
        back=back,
    )


@router.post("/contacts/{contact_id}/emails")
def send_mail(
    request: Request,
    session: SessionDep,
    user: Editor,
    contact_id: int,
    subject: Text = "",
    body: Text = "",
    kind: Text = "",
    template_id: Text = "",
    reply_to: Text = "",
    followup_id: Text = "",
) -> Response:
    typed = {
        "contact_id": str(contact_id),
        "template_id": template_id,
        "subject": subject,
        "body": body,
        "kind": kind,
        "reply_to_touchpoint_id": reply_to,
        "followup_id": followup_id,
    }
    return _send(request, session, user, typed=typed, back=f"/contacts/{contact_id}")


@router.post("/companies/{company_id}/emails")
def send_mail_at_company(
    request: Request,
    session: SessionDep,
    user: Editor,
    company: CompanyDep,
    contact_id: Text = "",
    subject: Text = "",
    body: Text = "",
    kind: Text = "",
    template_id: Text = "",
) -> Response:
    typed = {
        "contact_id": contact_id,
        "template_id": template_id,
        "subject": subject,
        "body": body,
        "kind": kind,
    }
    back = f"/companies/{company.id}"
    return _send(request, session, user, typed=typed, back=back, company_id=company.id)


@router.post("/emails/{outgoing_id}/retry")
def retry_mail(
    request: Request, session: SessionDep, user: Editor, outgoing: OutgoingDep
) -> Response:
    return run_change(
        request,
        session,
        lambda: sending.retry(session, outgoing=outgoing),
        done=N_("Mail queued again."),
        back=f"/contacts/{outgoing.contact_id}",
    )
