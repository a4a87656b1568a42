"""Mailboxes (admins), the triage inbox, and the mail behind a touchpoint: pages and API."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request, Response, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from crm.contacts.deps import Editor
from crm.contacts.models import ContactCreate, ContactPublic
from crm.core.db import SessionDep
from crm.core.errors import N_
from crm.core.forms import FormErrors, picked_id
from crm.core.templating import flash, render, run_change, save_form
from crm.mail import files
from crm.mail import service as mail_service
from crm.mail.models import (
    Mailbox,
    MailboxCreate,
    MailboxKind,
    MailboxPublic,
    MailboxUpdate,
    MailPublic,
    MailReadResult,
    Security,
    TriageEntry,
    TriageLink,
    TriagePage,
)
from crm.touchpoints.deps import TouchpointDep
from crm.users import service as user_service
from crm.users.deps import AdminUser, CurrentUser

router = APIRouter(tags=["pages"], include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", tags=["mail"])

Text = Annotated[str, Form()]


def valid_mailbox_id(mailbox_id: int, session: SessionDep) -> Mailbox:
    return mail_service.get_mailbox(session, mailbox_id=mailbox_id)


def valid_entry_id(entry_id: int, session: SessionDep) -> TriageEntry:
    return mail_service.get_entry(session, entry_id=entry_id)


MailboxDep = Annotated[Mailbox, Depends(valid_mailbox_id)]
EntryDep = Annotated[TriageEntry, Depends(valid_entry_id)]


def secret_key(request: Request) -> str:
    return request.app.state.settings.secret_key


# --- the JSON API --------------------------------------------------------------------


@api_router.get("/mailboxes", response_model=list[MailboxPublic])
def api_mailboxes(session: SessionDep, admin: AdminUser) -> list[MailboxPublic]:
    return mail_service.public(session, mail_service.list_mailboxes(session))


@api_router.post("/mailboxes", response_model=MailboxPublic, status_code=201)
def api_create_mailbox(
    request: Request, session: SessionDep, admin: AdminUser, data: MailboxCreate
) -> MailboxPublic:
    mailbox = mail_service.create_mailbox(
        session, data=data, secret_key=secret_key(request), actor_id=admin.id
    )
    return mail_service.public(session, [mailbox])[0]


@api_router.get("/mailboxes/{mailbox_id}", response_model=MailboxPublic)
def api_mailbox(session: SessionDep, admin: AdminUser, mailbox: MailboxDep) -> MailboxPublic:
    return mail_service.public(session, [mailbox])[0]


@api_router.patch("/mailboxes/{mailbox_id}", response_model=MailboxPublic)
def api_update_mailbox(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    mailbox: MailboxDep,
    data: MailboxUpdate,
) -> MailboxPublic:
    mail_service.update_mailbox(
        session, mailbox=mailbox, data=data, secret_key=secret_key(request), actor_id=admin.id
    )
    return mail_service.public(session, [mailbox])[0]


@api_router.delete("/mailboxes/{mailbox_id}", status_code=status.HTTP_204_NO_CONTENT)
def api_delete_mailbox(session: SessionDep, admin: AdminUser, mailbox: MailboxDep) -> None:
    mail_service.delete_mailbox(session, mailbox=mailbox, actor_id=admin.id)


@api_router.post("/mailboxes/{mailbox_id}/read", response_model=MailReadResult)
def api_read_mailbox(
    request: Request, session: SessionDep, admin: AdminUser, mailbox: MailboxDep
) -> MailReadResult:
    """Read the mailbox now instead of at the next scheduled run."""
    return mail_service.read_now(session, mailbox=mailbox, settings=request.app.state.settings)


@api_router.get("/mail-triage", response_model=TriagePage)
def api_triage(
    session: SessionDep,
    user: Editor,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TriagePage:
    entries, next_cursor = mail_service.list_triage(session, cursor=cursor, limit=limit)
    return TriagePage(
        items=[mail_service.entry_public(e) for e in entries], next_cursor=next_cursor
    )


@api_router.post("/mail-triage/{entry_id}/contact", response_model=ContactPublic, status_code=201)
def api_triage_create_contact(
    session: SessionDep, user: Editor, entry: EntryDep, data: ContactCreate
) -> Any:
    """A contact for the mail's sender (their address is added); every mail of theirs
    that waits becomes a touchpoint."""
    contact, _ = mail_service.create_contact_from(session, entry=entry, data=data, actor_id=user.id)
    return contact


@api_router.post("/mail-triage/{entry_id}/link", response_model=ContactPublic)
def api_triage_link(session: SessionDep, user: Editor, entry: EntryDep, data: TriageLink) -> Any:
    """The sender's address is added to an existing contact, with their waiting mail."""
    contact, _ = mail_service.link_to_contact(
        session, entry=entry, contact_id=data.contact_id, actor_id=user.id
    )
    return contact


@api_router.post("/mail-triage/{entry_id}/ignore", status_code=status.HTTP_204_NO_CONTENT)
def api_triage_ignore(session: SessionDep, user: Editor, entry: EntryDep) -> None:
    """Never keep this sender's mail; what waits of it goes now."""
    mail_service.ignore_sender(session, entry=entry, actor_id=user.id)


@api_router.get("/touchpoints/{touchpoint_id}/mail", response_model=MailPublic)
def api_touchpoint_mail(
    session: SessionDep, user: CurrentUser, touchpoint: TouchpointDep
) -> MailPublic:
    return mail_service.mail_of(session, touchpoint=touchpoint)


def _attachment_file(
    request: Request, session: SessionDep, touchpoint: TouchpointDep, attachment_id: int
) -> FileResponse:
    attachment = files.get_attachment(session, touchpoint=touchpoint, attachment_id=attachment_id)
    path = files.file_of(files.directory(request.app.state.settings), attachment)
    # Always a download: a kept HTML file must not open as a page of the CRM.
    return FileResponse(
        path,
        media_type=attachment.content_type,
        filename=attachment.filename,
        content_disposition_type="attachment",
    )


@api_router.get(
    "/touchpoints/{touchpoint_id}/attachments/{attachment_id}",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def api_attachment(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    touchpoint: TouchpointDep,
    attachment_id: int,
) -> FileResponse:
    """The file of a mail's attachment, where its mailbox keeps files (else 404)."""
    return _attachment_file(request, session, touchpoint, attachment_id)


@router.get("/touchpoints/{touchpoint_id}/attachments/{attachment_id}")
def attachment_download(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    touchpoint: TouchpointDep,
    attachment_id: int,
) -> FileResponse:
    return _attachment_file(request, session, touchpoint, attachment_id)


# --- mailbox pages -------------------------------------------------------------------


def mailbox_form(mailbox: Mailbox | None = None, **typed: str) -> dict[str, str]:
    """The mailbox form's values, as stored or as typed."""
    stored = {
        "name": "",
        "kind": MailboxKind.SHARED,
        "owner_id": "",
        "address": "",
        "host": "",
        "port": "993",
        "security": Security.SSL,
        "username": "",
        "folders": "INBOX",
        "batch_size": "500",
        "keep_attachments": "",
        "attachment_max_mb": "5",
        "is_active": "true",
    }
    if mailbox is not None:
        stored |= {name: str(getattr(mailbox, name)) for name in stored if name not in ("folders",)}
        stored["owner_id"] = str(mailbox.owner_id or "")
        stored["is_active"] = "true" if mailbox.is_active else ""
        stored["keep_attachments"] = "true" if mailbox.keep_attachments else ""
        stored["folders"] = ", ".join(mailbox.folders)
    return stored | typed


def form_values(form: dict[str, str], password: str) -> dict[str, Any]:
    """The typed form as the API's fields: folders split at commas, blanks left out."""
    values: dict[str, Any] = {k: v for k, v in form.items() if v.strip()}
    values["folders"] = [f.strip() for f in form["folders"].split(",") if f.strip()]
    values["is_active"] = form["is_active"] == "true"
    if "keep_attachments" in form:
        values["keep_attachments"] = form["keep_attachments"] == "true"
    if "owner_id" in form:
        values["owner_id"] = form["owner_id"] or None
    if password:
        values["password"] = password
    return values


def _mailbox_page(
    request: Request,
    session: SessionDep,
    *,
    mailbox: Mailbox | None,
    form: dict[str, str],
    errors: FormErrors,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "mail/mailbox.html",
        {
            "mailbox": mailbox,
            "status": mail_service.public(session, [mailbox])[0] if mailbox else None,
            "folder_states": mail_service.folder_states(session, mailbox=mailbox)
            if mailbox
            else [],
            "form": form,
            "errors": errors,
            "owners": user_service.active_user_choices(session),
            "kinds": list(MailboxKind),
            "securities": list(Security),
        },
        status_code=status_code,
    )


@router.get("/mailboxes", response_class=HTMLResponse)
def mailboxes_page(request: Request, session: SessionDep, admin: AdminUser) -> HTMLResponse:
    mailboxes = mail_service.list_mailboxes(session)
    return render(
        request,
        "mail/mailboxes.html",
        {
            "mailboxes": mail_service.public(session, mailboxes),
            "waiting": mail_service.triage_count(session),
        },
    )


@router.get("/mailboxes/new", response_class=HTMLResponse)
def new_mailbox_page(request: Request, session: SessionDep, admin: AdminUser) -> HTMLResponse:
    errors = FormErrors(request.state.language)
    return _mailbox_page(request, session, mailbox=None, form=mailbox_form(), errors=errors)


@router.get("/mailboxes/{mailbox_id}", response_class=HTMLResponse)
def mailbox_page(
    request: Request, session: SessionDep, admin: AdminUser, mailbox: MailboxDep
) -> HTMLResponse:
    errors = FormErrors(request.state.language)
    return _mailbox_page(
        request, session, mailbox=mailbox, form=mailbox_form(mailbox), errors=errors
    )


CONNECTION_FIELDS = ("address", "host", "port", "security", "username", "folders", "is_active")
MAILBOX_FIELDS = (
    "name",
    "kind",
    "owner_id",
    "batch_size",
    "keep_attachments",
    "attachment_max_mb",
    *CONNECTION_FIELDS,
)


async def typed_form(request: Request, names: tuple[str, ...]) -> tuple[dict[str, str], str]:
    """The mailbox form as typed, and the password apart: it is never shown again."""
    sent = await request.form()
    form = {name: str(sent.get(name, "")).strip() for name in names}
    return form, str(sent.get("password", ""))


async def _typed(request: Request) -> tuple[dict[str, str], str]:
    return await typed_form(request, MAILBOX_FIELDS)


TypedMailbox = Annotated[tuple[dict[str, str], str], Depends(_typed)]


def _save(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    mailbox: Mailbox | None,
    typed: tuple[dict[str, str], str],
) -> Response:
    form, password = typed

    def save() -> Mailbox:
        values = form_values(form, password)
        if mailbox is None:
            return mail_service.create_mailbox(
                session,
                data=MailboxCreate(**values),
                secret_key=secret_key(request),
                actor_id=admin.id,
            )
        return mail_service.update_mailbox(
            session,
            mailbox=mailbox,
            data=MailboxUpdate(**values),
            secret_key=secret_key(request),
            actor_id=admin.id,
        )

    def again(errors: FormErrors) -> Response:
        if mailbox is not None:
            session.refresh(mailbox)
        return _mailbox_page(
            request, session, mailbox=mailbox, form=form, errors=errors, status_code=422
        )

    return save_form(
        request,
        session,
        save,
        again=again,
        done=N_("Mailbox %(name)s saved."),
        then=lambda saved: f"/mailboxes/{saved.id}",
    )


@router.post("/mailboxes", response_class=HTMLResponse)
def create_mailbox(
    request: Request, session: SessionDep, admin: AdminUser, typed: TypedMailbox
) -> Response:
    return _save(request, session, admin, None, typed)


@router.post("/mailboxes/{mailbox_id}", response_class=HTMLResponse)
def update_mailbox(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    mailbox: MailboxDep,
    typed: TypedMailbox,
) -> Response:
    return _save(request, session, admin, mailbox, typed)


@router.post("/mailboxes/{mailbox_id}/read")
def read_mailbox(
    request: Request, session: SessionDep, admin: AdminUser, mailbox: MailboxDep
) -> Response:
    return read_and_say(request, session, mailbox, back=f"/mailboxes/{mailbox.id}")


def read_and_say(request: Request, session: SessionDep, mailbox: Mailbox, *, back: str) -> Response:
    """Read a mailbox now, and say how it went on the page the user comes back to."""
    result = mail_service.read_now(session, mailbox=mailbox, settings=request.app.state.settings)
    if result.error:
        flash(
            request,
            "error",
            N_("The mailbox could not be read completely: %(error)s"),
            error=result.error,
        )
    else:
        flash(
            request,
            "success",
            N_("New mails read: %(read)s; touchpoints: %(touchpoints)s; to triage: %(triaged)s."),
            read=result.read,
            touchpoints=result.touchpoints,
            triaged=result.triaged,
        )
    return RedirectResponse(back, status_code=303)


@router.post("/mailboxes/{mailbox_id}/delete")
def delete_mailbox(
    request: Request, session: SessionDep, admin: AdminUser, mailbox: MailboxDep
) -> Response:
    return run_change(
        request,
        session,
        lambda: mail_service.delete_mailbox(session, mailbox=mailbox, actor_id=admin.id),
        done=N_("Mailbox deleted. The touchpoints made from its mail stay."),
        back="/mailboxes",
    )


# --- the triage inbox ----------------------------------------------------------------


@router.get("/mail/triage", response_class=HTMLResponse)
def triage_page(
    request: Request, session: SessionDep, user: Editor, cursor: str | None = None
) -> HTMLResponse:
    entries, next_cursor = mail_service.list_triage(session, cursor=cursor)
    return render(
        request,
        "mail/triage.html",
        {
            "entries": entries,
            "next_cursor": next_cursor,
            "cursor": cursor,
            "first_last": {e.id: mail_service.split_name(e.name) for e in entries},
        },
    )


@router.post("/mail/triage/{entry_id}/contact")
def triage_create_contact(
    request: Request,
    session: SessionDep,
    user: Editor,
    entry: EntryDep,
    first_name: Text = "",
    last_name: Text = "",
) -> Response:
    return run_change(
        request,
        session,
        lambda: mail_service.create_contact_from(
            session,
            entry=entry,
            data=ContactCreate(first_name=first_name, last_name=last_name),
            actor_id=user.id,
        ),
        done=N_("Contact created; their mail is on their timeline."),
        back="/mail/triage",
        then=lambda made: f"/contacts/{made[0].id}",
    )


@router.post("/mail/triage/{entry_id}/link")
def triage_link(
    request: Request,
    session: SessionDep,
    user: Editor,
    entry: EntryDep,
    contact_id: Text = "",
    find: Text = "",
) -> Response:
    return run_change(
        request,
        session,
        lambda: mail_service.link_to_contact(
            session,
            entry=entry,
            contact_id=picked_id(contact_id, find=find, field="contact_id", required=True),
            actor_id=user.id,
        ),
        done=N_("The address was added to the contact; their mail is on their timeline."),
        back="/mail/triage",
        then=lambda made: f"/contacts/{made[0].id}",
    )


@router.post("/mail/triage/{entry_id}/ignore")
def triage_ignore(request: Request, session: SessionDep, user: Editor, entry: EntryDep) -> Response:
    return run_change(
        request,
        session,
        lambda: mail_service.ignore_sender(session, entry=entry, actor_id=user.id),
        done=N_("Sender ignored: their mail will not be kept."),
        back="/mail/triage",
    )
