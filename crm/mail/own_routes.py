"""A user's own mailbox, set up by themselves on their profile and through the API, so
that the mail they write with customers lands on their timelines."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import HTMLResponse

from crm.contacts.deps import Editor
from crm.core.db import SessionDep
from crm.core.errors import N_, NotFound
from crm.core.forms import FormErrors
from crm.core.templating import render, run_change, save_form
from crm.mail import service as mail_service
from crm.mail.models import Mailbox, MailboxPublic, MailReadResult, OwnMailbox
from crm.mail.routes import (
    CONNECTION_FIELDS,
    form_values,
    mailbox_form,
    read_and_say,
    secret_key,
    typed_form,
)
from crm.users.models import User

router = APIRouter(tags=["pages"], include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", tags=["mail"])

PAGE = "/profile/mailbox"


def _own(session: SessionDep, user: Editor) -> Mailbox:
    mailbox = mail_service.own_mailbox(session, user=user)
    if mailbox is None:
        raise NotFound(N_("You have not connected a mailbox of your own."))
    return mailbox


OwnDep = Annotated[Mailbox, Depends(_own)]


# --- the JSON API --------------------------------------------------------------------


@api_router.get("/me/mailbox", response_model=MailboxPublic)
def api_own_mailbox(session: SessionDep, user: Editor, mailbox: OwnDep) -> MailboxPublic:
    return mail_service.public(session, [mailbox])[0]


@api_router.put("/me/mailbox", response_model=MailboxPublic)
def api_save_own_mailbox(
    request: Request, session: SessionDep, user: Editor, data: OwnMailbox
) -> MailboxPublic:
    """Connect your own mailbox (address, server, user name and password needed), or
    change what you send of its settings. It is read every five minutes; mail you
    write from it to a contact is logged as yours."""
    mailbox = mail_service.save_own_mailbox(
        session, user=user, data=data, secret_key=secret_key(request)
    )
    return mail_service.public(session, [mailbox])[0]


@api_router.delete("/me/mailbox", status_code=status.HTTP_204_NO_CONTENT)
def api_delete_own_mailbox(session: SessionDep, user: Editor, mailbox: OwnDep) -> None:
    mail_service.delete_mailbox(session, mailbox=mailbox, actor_id=user.id)


@api_router.post("/me/mailbox/read", response_model=MailReadResult)
def api_read_own_mailbox(
    request: Request, session: SessionDep, user: Editor, mailbox: OwnDep
) -> MailReadResult:
    return mail_service.read_now(session, mailbox=mailbox, settings=request.app.state.settings)


# --- the page ------------------------------------------------------------------------


def _page(
    request: Request,
    session: SessionDep,
    user: User,
    *,
    form: dict[str, str] | None = None,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    mailbox = mail_service.own_mailbox(session, user=user)
    if form is None:
        form = (
            mailbox_form(mailbox)
            if mailbox
            else mailbox_form(address=user.email, username=user.email)
        )
    return render(
        request,
        "mail/own_mailbox.html",
        {
            "mailbox": mailbox,
            "status": mail_service.public(session, [mailbox])[0] if mailbox else None,
            "form": form,
            "errors": errors or FormErrors(request.state.language),
        },
        status_code=status_code,
    )


@router.get(PAGE, response_class=HTMLResponse)
def own_mailbox_page(request: Request, session: SessionDep, user: Editor) -> HTMLResponse:
    return _page(request, session, user)


async def _typed(request: Request) -> tuple[dict[str, str], str]:
    return await typed_form(request, CONNECTION_FIELDS)


@router.post(PAGE, response_class=HTMLResponse)
def save_own_mailbox(
    request: Request,
    session: SessionDep,
    user: Editor,
    typed: Annotated[tuple[dict[str, str], str], Depends(_typed)],
) -> Response:
    form, password = typed
    return save_form(
        request,
        session,
        lambda: mail_service.save_own_mailbox(
            session,
            user=user,
            data=OwnMailbox(**form_values(form, password)),
            secret_key=secret_key(request),
        ),
        again=lambda errors: _page(
            request, session, user, form=form, errors=errors, status_code=422
        ),
        done=N_("Your mailbox is saved: it is read every five minutes."),
        then=lambda saved: PAGE,
    )


@router.post(f"{PAGE}/read")
def read_own_mailbox(
    request: Request, session: SessionDep, user: Editor, mailbox: OwnDep
) -> Response:
    return read_and_say(request, session, mailbox, back=PAGE)


@router.post(f"{PAGE}/delete")
def delete_own_mailbox(
    request: Request, session: SessionDep, user: Editor, mailbox: OwnDep
) -> Response:
    return run_change(
        request,
        session,
        lambda: mail_service.delete_mailbox(session, mailbox=mailbox, actor_id=user.id),
        done=N_("Your mailbox is no longer read. The touchpoints made from its mail stay."),
        back=PAGE,
    )
