"""Sending mail to a contact: from their page and through the API, retrying a failed
mail, and the one-click unsubscribe that marketing mail carries."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request, Response

from crm.contacts.deps import Editor
from crm.core.db import SessionDep
from crm.core.errors import N_
from crm.core.templating import run_change
from crm.gdpr import service as gdpr_service
from crm.gdpr.routes import client_of
from crm.mail import sending
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


@router.post("/contacts/{contact_id}/emails")
def send_mail(
    request: Request,
    session: SessionDep,
    user: Editor,
    contact_id: int,
    subject: Text = "",
    body: Text = "",
    kind: Text = "contract",
    reply_to: Text = "",
    followup_id: Text = "",
) -> Response:
    return run_change(
        request,
        session,
        lambda: sending.queue(
            session,
            data=MailSend(
                contact_id=contact_id,
                subject=subject,
                body=body,
                kind=kind,
                reply_to_touchpoint_id=reply_to or None,
                followup_id=followup_id or None,
            ),
            sender=user,
            settings=request.app.state.settings,
            unsubscribe_links=_unsubscribe_links(request),
        ),
        done=N_("Mail queued: it goes out within a minute."),
        back=f"/contacts/{contact_id}",
    )


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
