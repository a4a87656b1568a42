"""Companies and contacts: pages and JSON API."""

from collections.abc import Iterator
from operator import attrgetter
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from pydantic import BaseModel, Field, ValidationError, field_validator

from crm.contacts import service as contact_service
from crm.contacts.deps import EDITOR_ROLES, CompanyDep, ContactDep, Editor
from crm.contacts.models import (
    BulkAction,
    BulkRequest,
    BulkResult,
    BuyingRole,
    CompaniesPage,
    Company,
    CompanyCreate,
    CompanyPublic,
    CompanyUpdate,
    Contact,
    ContactCreate,
    ContactPublic,
    ContactsPage,
    ContactUpdate,
    MergeRequest,
)
from crm.core.db import SessionDep, utcnow
from crm.core.downloads import download
from crm.core.errors import N_, CRMError, Stale
from crm.core.exports import csv_lines
from crm.core.forms import FormErrors, changed_fields, picked_id
from crm.core.schemas import blank_is_none
from crm.core.security import safe_next
from crm.core.templating import flash, render
from crm.deals import board as deal_board
from crm.journeys import board as journey_board
from crm.mail import service as mail_service
from crm.touchpoints import service as touchpoint_service
from crm.touchpoints.routes import quick_log_context
from crm.users import service as user_service
from crm.users.deps import CurrentUser, Idempotent
from crm.users.models import User

router = APIRouter(tags=["pages"], include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", tags=["contacts"])

Sort = Literal["name", "-name", "created", "-created"]
Limit = Annotated[int, Query(ge=1, le=200)]


class Filters(BaseModel):
    """What narrows a list; a filter form sends its empty fields too, meaning none."""

    q: str | None = None
    owner_id: int | None = None
    segment: str | None = None
    tag: str | None = None
    sort: Sort = "name"

    _empty_is_none = field_validator("*", mode="before")(blank_is_none)


class ListQuery(Filters):
    """The state of a list, all of it in the URL."""

    cursor: str | None = None
    limit: Limit = 50


class ContactQuery(ListQuery):
    company_id: int | None = None


class CompanyQuery(ListQuery):
    abc: Literal["A", "B", "C"] | None = Field(
        default=None, description="The customers' class by lifetime value in euros."
    )


class ExportQuery(Filters):
    """The list's filters and order; an export takes every page."""

    company_id: int | None = None


def _export(
    request: Request, session: SessionDep, user: User, query: ExportQuery, *, format: str = "csv"
) -> StreamingResponse:
    filters = query.model_dump()
    contact_service.record_export(session, actor_id=user.id, filters=filters, format=format)
    reading_session = request.app.state.reading_session

    def lines() -> Iterator[str]:
        # Most of it is sent after the request's session has ended: it reads in its own.
        with reading_session() as export_session:
            if format == "vcf":
                yield from contact_service.export_cards(export_session, **filters)
            else:
                rows = contact_service.export_rows(export_session, **filters)
                yield from csv_lines(contact_service.EXPORT_COLUMNS, rows)

    filename = f"contacts-{utcnow().date().isoformat()}.{format}"
    return download(lines(), filename=filename, media_type=EXPORT_TYPES[format])


EXPORT_TYPES = {"csv": "text/csv; charset=utf-8", "vcf": "text/vcard; charset=utf-8"}


def _card(session: SessionDep, contact: Contact) -> Response:
    return Response(
        contact_service.contact_card(session, contact=contact),
        media_type=EXPORT_TYPES["vcf"],
        headers={"Content-Disposition": f'attachment; filename="contact-{contact.id}.vcf"'},
    )


# --- JSON API -----------------------------------------------------------------------


@api_router.get("/companies", response_model=CompaniesPage)
def api_companies(
    session: SessionDep, user: CurrentUser, query: Annotated[CompanyQuery, Query()]
) -> CompaniesPage:
    items, cursor = contact_service.list_companies(session, **query.model_dump())
    return CompaniesPage(items=[CompanyPublic.model_validate(c) for c in items], next_cursor=cursor)


@api_router.post("/companies", response_model=CompanyPublic, status_code=201)
def api_create_company(session: SessionDep, user: Editor, data: CompanyCreate) -> Any:
    return contact_service.create_company(session, data=data, actor_id=user.id)


@api_router.get("/companies/{company_id}", response_model=CompanyPublic)
def api_company(company: CompanyDep, user: CurrentUser) -> Any:
    return company


@api_router.patch("/companies/{company_id}", response_model=CompanyPublic)
def api_update_company(
    session: SessionDep, company: CompanyDep, user: Editor, data: CompanyUpdate
) -> Any:
    return contact_service.update_company(session, company=company, data=data, actor_id=user.id)


@api_router.post("/companies/{company_id}/merge", response_model=CompanyPublic)
def api_merge_company(
    session: SessionDep, company: CompanyDep, user: Editor, data: MergeRequest
) -> Any:
    duplicate = contact_service.get_company(session, company_id=data.duplicate_id)
    return contact_service.merge_companies(
        session,
        target=company,
        duplicate=duplicate,
        take_from_duplicate=data.take_from_duplicate,
        actor_id=user.id,
    )


@api_router.delete("/companies/{company_id}", status_code=status.HTTP_204_NO_CONTENT)
def api_delete_company(session: SessionDep, company: CompanyDep, user: Editor) -> None:
    contact_service.delete_company(session, company=company, actor_id=user.id)


@api_router.get("/contacts", response_model=ContactsPage)
def api_contacts(
    session: SessionDep, user: CurrentUser, query: Annotated[ContactQuery, Query()]
) -> ContactsPage:
    items, cursor = contact_service.list_contacts(
        session, with_addresses=True, **query.model_dump()
    )
    return ContactsPage(items=[ContactPublic.model_validate(c) for c in items], next_cursor=cursor)


@api_router.get(
    "/contacts/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def api_export_contacts(
    request: Request, session: SessionDep, user: Editor, query: Annotated[ExportQuery, Query()]
) -> StreamingResponse:
    return _export(request, session, user, query)


@api_router.get(
    "/contacts/export.vcf",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/vcard": {}}}},
)
def api_export_cards(
    request: Request, session: SessionDep, user: Editor, query: Annotated[ExportQuery, Query()]
) -> StreamingResponse:
    """The contacts the filters select, as vCards (3.0) in one file."""
    return _export(request, session, user, query, format="vcf")


@api_router.get(
    "/contacts/{contact_id}/vcard",
    response_class=Response,
    responses={200: {"content": {"text/vcard": {}}}},
)
def api_contact_card(session: SessionDep, contact: ContactDep, user: CurrentUser) -> Response:
    return _card(session, contact)


@api_router.post("/contacts/bulk", response_model=BulkResult)
def api_bulk_contacts(session: SessionDep, user: Editor, data: BulkRequest) -> BulkResult:
    return BulkResult(affected=contact_service.bulk_update(session, data=data, actor_id=user.id))


@api_router.post("/contacts", response_model=ContactPublic, status_code=201)
def api_create_contact(
    session: SessionDep, user: Editor, data: ContactCreate, once: Idempotent
) -> Any:
    return once(
        data, Contact, lambda: contact_service.create_contact(session, data=data, actor_id=user.id)
    )


@api_router.get("/contacts/{contact_id}", response_model=ContactPublic)
def api_contact(contact: ContactDep, user: CurrentUser) -> Any:
    return contact


@api_router.patch("/contacts/{contact_id}", response_model=ContactPublic)
def api_update_contact(
    session: SessionDep, contact: ContactDep, user: Editor, data: ContactUpdate
) -> Any:
    return contact_service.update_contact(session, contact=contact, data=data, actor_id=user.id)


@api_router.post("/contacts/{contact_id}/merge", response_model=ContactPublic)
def api_merge_contact(
    session: SessionDep, contact: ContactDep, user: Editor, data: MergeRequest
) -> Any:
    duplicate = contact_service.get_contact(session, contact_id=data.duplicate_id)
    return contact_service.merge_contacts(
        session,
        target=contact,
        duplicate=duplicate,
        take_from_duplicate=data.take_from_duplicate,
        actor_id=user.id,
    )


@api_router.delete("/contacts/{contact_id}", status_code=status.HTTP_204_NO_CONTENT)
def api_delete_contact(session: SessionDep, contact: ContactDep, user: Editor) -> None:
    contact_service.delete_contact(session, contact=contact, actor_id=user.id)


# --- pages --------------------------------------------------------------------------


def split_tags(text: str) -> list[str]:
    return [tag.strip() for tag in text.split(",") if tag.strip()]


class ContactForm(BaseModel):
    """A contact form as posted: text fields, one address or number per line."""

    first_name: str = ""
    last_name: str = ""
    job_title: str = ""
    company_id: str = ""
    buying_role: str = ""
    owner_id: str = ""
    segment: str = ""
    source: str = ""
    language: str = ""
    notes: str = ""
    emails: str = ""
    phones: str = ""
    tags: str = ""
    # The version the form showed: an edit of an older one is refused.
    version: str = ""
    find: str = ""  # what was typed into the company finder

    def values(self) -> dict[str, Any]:
        picked_id(self.company_id, find=self.find, field="company_id")
        values: dict[str, Any] = self.model_dump(exclude={"version", "find"})
        for name in ("emails", "phones"):
            values[name] = [line.strip() for line in values[name].splitlines() if line.strip()]
        values["tags"] = split_tags(self.tags)
        if self.version.isdigit():
            values["version"] = int(self.version)
        return values

    @classmethod
    def of(cls, contact: Contact) -> "ContactForm":
        fields = {
            name: str(getattr(contact, name) or "") for name in cls.model_fields if name != "find"
        }
        return cls(
            **fields
            | {
                "emails": "\n".join(contact.emails),
                "phones": "\n".join(contact.phones),
                "tags": ", ".join(contact.tags),
            }
        )


class CompanyForm(BaseModel):
    name: str = ""
    website: str = ""
    industry: str = ""
    size_band: str = ""
    segment: str = ""
    street: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = ""
    phone: str = ""
    email: str = ""
    owner_id: str = ""
    renewal_date: str = ""
    notes: str = ""
    tags: str = ""

    def values(self) -> dict[str, Any]:
        return self.model_dump() | {"tags": split_tags(self.tags)}

    @classmethod
    def of(cls, company: Company) -> "CompanyForm":
        fields = {name: str(getattr(company, name) or "") for name in cls.model_fields}
        return cls(**fields | {"tags": ", ".join(company.tags)})


TIMELINE_PAGE = 25


def _timeline(
    session: SessionDep, user: User, page_url: str, cursor: str | None, **subject: int | None
) -> dict[str, Any]:
    """A page of a subject's timeline, and the quick log for those who may write."""
    touchpoints, next_cursor = touchpoint_service.list_touchpoints(
        session, cursor=cursor, limit=TIMELINE_PAGE, **subject
    )
    since, before = touchpoint_service.timeline_window(
        touchpoints, cursor=cursor, next_cursor=next_cursor
    )
    moves = journey_board.moves(session, since=since, before=before, **subject)
    steps = deal_board.deal_steps(session, since=since, before=before, **subject)
    labels = touchpoint_service.Labels(session)
    mail = mail_service.conversations(session, touchpoints=touchpoints)
    may_log = user.has_role(*EDITOR_ROLES)
    return {
        "timeline": mail.fold(
            sorted([*touchpoints, *moves, *steps], key=attrgetter("occurred_at"), reverse=True)
        ),
        "mail": mail,
        "next_url": f"{page_url}?cursor={next_cursor}" if next_cursor else None,
        **(
            quick_log_context(labels, action=f"{page_url}/touchpoints")
            if may_log
            else {"labels": labels, "quick_log": None}
        ),
    }


def _owner_options(session: SessionDep) -> list[tuple[int, str]]:
    return user_service.active_user_choices(session)


def _errors(request: Request) -> FormErrors:
    return FormErrors(request.state.language)


def _contact_form(
    request: Request,
    session: SessionDep,
    *,
    contact: Contact | None,
    form: ContactForm,
    errors: FormErrors,
    existing_id: int | None = None,
    changed: list[tuple[str, str, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "contacts/form.html",
        {
            "contact": contact,
            "existing_id": existing_id,
            "changed": changed or [],
            "form": form,
            "errors": errors,
            "buying_roles": list(BuyingRole),
            "company": contact_service.finder_choice(
                session, kind="companies", record_id=form.company_id
            ),
            "owner_options": _owner_options(session),
        },
        status_code=status_code,
    )


@router.get("/contacts", response_class=HTMLResponse)
def contacts_page(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    query: Annotated[ContactQuery, Query()],
) -> HTMLResponse:
    return render(
        request,
        "contacts/list.html",
        {
            "contacts": contact_service.contact_list(session, **query.model_dump()),
            "query": query,
            "owner_options": _owner_options(session),
        },
    )


@router.get("/contacts/export.csv")
def export_contacts(
    request: Request, session: SessionDep, user: Editor, query: Annotated[ExportQuery, Query()]
) -> StreamingResponse:
    return _export(request, session, user, query)


@router.get("/contacts/export.vcf")
def export_cards(
    request: Request, session: SessionDep, user: Editor, query: Annotated[ExportQuery, Query()]
) -> StreamingResponse:
    return _export(request, session, user, query, format="vcf")


@router.post("/contacts/bulk")
def bulk_contacts(
    request: Request,
    session: SessionDep,
    user: Editor,
    ids: Annotated[list[int], Form()] = (),
    action: Annotated[str, Form()] = "",
    owner_id: Annotated[str, Form()] = "",
    tag: Annotated[str, Form()] = "",
    confirm: Annotated[bool, Form()] = False,
    back: Annotated[str, Form()] = "/contacts",
) -> Response:
    back = safe_next(back, default="/contacts")
    try:
        data = BulkRequest(
            ids=list(ids),
            action=action,
            owner_id=owner_id or None,
            tag=tag or None,
            confirm=confirm,
        )
    except ValidationError:
        flash(request, "error", N_("Choose contacts and an action."))
        return RedirectResponse(back, status_code=303)
    if data.action == BulkAction.DELETE and not data.confirm:
        contacts = contact_service.get_contacts(session, ids=data.ids)
        return render(request, "contacts/bulk_delete.html", {"contacts": contacts, "back": back})
    try:
        count = contact_service.bulk_update(session, data=data, actor_id=user.id)
    except CRMError as exc:
        flash(request, "error", exc.message, **exc.params)
        return RedirectResponse(back, status_code=303)
    flash(request, "success", N_("%(count)s contacts changed."), count=count)
    return RedirectResponse(back, status_code=303)


@router.get("/contacts/new", response_class=HTMLResponse)
def new_contact_page(
    request: Request, session: SessionDep, user: Editor, company_id: int | None = None
) -> HTMLResponse:
    form = ContactForm(company_id=str(company_id or ""), owner_id=str(user.id))
    return _contact_form(request, session, contact=None, form=form, errors=_errors(request))


@router.post("/contacts", response_class=HTMLResponse)
def create_contact(
    request: Request, session: SessionDep, user: Editor, form: Annotated[ContactForm, Form()]
) -> Response:
    errors, existing_id = _errors(request), None
    try:
        data = ContactCreate(**form.values())
        contact = contact_service.create_contact(session, data=data, actor_id=user.id)
    except ValidationError as exc:
        errors.add_validation_error(exc)
    except CRMError as exc:
        errors.add_crm_error(exc)
        existing_id = exc.details.get("existing_contact_id")
    if errors:
        return _contact_form(
            request,
            session,
            contact=None,
            form=form,
            errors=errors,
            existing_id=existing_id,
            status_code=422,
        )
    flash(request, "success", N_("%(name)s was added."), name=contact.name)
    return RedirectResponse(f"/contacts/{contact.id}", status_code=303)


@router.get("/contacts/{contact_id}", response_class=HTMLResponse)
def contact_page(
    request: Request,
    session: SessionDep,
    contact: ContactDep,
    user: CurrentUser,
    cursor: str | None = None,
) -> HTMLResponse:
    companies = contact_service.company_names(
        session, {contact.company_id} if contact.company_id else set()
    )
    return render(
        request,
        "contacts/detail.html",
        {
            "contact": contact,
            "company_name": companies.get(contact.company_id),
            **_timeline(session, user, f"/contacts/{contact.id}", cursor, contact_id=contact.id),
        },
    )


@router.get("/contacts/{contact_id}/vcard")
def contact_card(session: SessionDep, contact: ContactDep, user: CurrentUser) -> Response:
    return _card(session, contact)


@router.get("/contacts/{contact_id}/edit", response_class=HTMLResponse)
def edit_contact_page(
    request: Request, session: SessionDep, contact: ContactDep, user: Editor
) -> HTMLResponse:
    return _contact_form(
        request, session, contact=contact, form=ContactForm.of(contact), errors=_errors(request)
    )


@router.post("/contacts/{contact_id}", response_class=HTMLResponse)
def update_contact(
    request: Request,
    session: SessionDep,
    contact: ContactDep,
    user: Editor,
    form: Annotated[ContactForm, Form()],
) -> Response:
    errors = _errors(request)
    try:
        data = ContactUpdate(**form.values())
        contact_service.update_contact(session, contact=contact, data=data, actor_id=user.id)
    except Stale as exc:
        # Both versions side by side; saving again (with the version now shown) keeps
        # the user's, leaving the page keeps the other's.
        errors.add_error(exc)
        saved = ContactForm.of(contact)
        changed = changed_fields(saved, form, skip={"version", "find"})
        form = form.model_copy(update={"version": saved.version})
        return _contact_form(
            request,
            session,
            contact=contact,
            form=form,
            errors=errors,
            changed=changed,
            status_code=409,
        )
    except (ValidationError, CRMError) as exc:
        errors.add_error(exc)
    if errors:
        return _contact_form(
            request, session, contact=contact, form=form, errors=errors, status_code=422
        )
    flash(request, "success", N_("Changes saved."))
    return RedirectResponse(f"/contacts/{contact.id}", status_code=303)


@router.get("/contacts/{contact_id}/merge", response_class=HTMLResponse)
def merge_contact_page(
    request: Request,
    session: SessionDep,
    contact: ContactDep,
    user: Editor,
    other: str = "",
    find: str = "",
) -> HTMLResponse:
    """The duplicate chosen in the finder (or named by an e-mail address in the link)."""
    if "@" not in other:
        picked_id(other, find=find, field="other", required=True)
    duplicate = contact_service.find_duplicate(session, of=contact, other=other)
    companies = contact_service.company_names(
        session, {c.company_id for c in (contact, duplicate) if c.company_id}
    )
    return render(
        request,
        "contacts/merge.html",
        {
            "contact": contact,
            "duplicate": duplicate,
            "companies": companies,
            "fields": contact_service.CONTACT_MERGE_FIELDS,
        },
    )


@router.post("/contacts/{contact_id}/merge")
def merge_contact(
    request: Request,
    session: SessionDep,
    contact: ContactDep,
    user: Editor,
    duplicate_id: Annotated[int, Form()],
    take: Annotated[list[str], Form()] = (),
) -> Response:
    duplicate = contact_service.get_contact(session, contact_id=duplicate_id)
    name = duplicate.name
    contact_service.merge_contacts(
        session,
        target=contact,
        duplicate=duplicate,
        take_from_duplicate=set(take),
        actor_id=user.id,
    )
    flash(request, "success", N_("%(name)s was merged into this contact."), name=name)
    return RedirectResponse(f"/contacts/{contact.id}", status_code=303)


@router.post("/contacts/{contact_id}/delete")
def delete_contact(
    request: Request, session: SessionDep, contact: ContactDep, user: Editor
) -> Response:
    name = contact.name
    contact_service.delete_contact(session, contact=contact, actor_id=user.id)
    flash(request, "success", N_("%(name)s was deleted."), name=name)
    return RedirectResponse("/contacts", status_code=303)


def _company_form(
    request: Request,
    session: SessionDep,
    *,
    company: Company | None,
    form: CompanyForm,
    errors: FormErrors,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "contacts/company_form.html",
        {
            "company": company,
            "form": form,
            "errors": errors,
            "owner_options": _owner_options(session),
        },
        status_code=status_code,
    )


@router.get("/companies", response_class=HTMLResponse)
def companies_page(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    query: Annotated[CompanyQuery, Query()],
) -> HTMLResponse:
    companies, cursor = contact_service.list_companies(session, **query.model_dump())
    return render(
        request,
        "contacts/companies.html",
        {"companies": companies, "next_cursor": cursor, "query": query},
    )


@router.get("/companies/new", response_class=HTMLResponse)
def new_company_page(request: Request, session: SessionDep, user: Editor) -> HTMLResponse:
    return _company_form(
        request,
        session,
        company=None,
        form=CompanyForm(owner_id=str(user.id)),
        errors=_errors(request),
    )


@router.post("/companies", response_class=HTMLResponse)
def create_company(
    request: Request, session: SessionDep, user: Editor, form: Annotated[CompanyForm, Form()]
) -> Response:
    errors = _errors(request)
    try:
        company = contact_service.create_company(
            session, data=CompanyCreate(**form.values()), actor_id=user.id
        )
    except (ValidationError, CRMError) as exc:
        errors.add_error(exc)
    if errors:
        return _company_form(
            request, session, company=None, form=form, errors=errors, status_code=422
        )
    flash(request, "success", N_("%(name)s was added."), name=company.name)
    return RedirectResponse(f"/companies/{company.id}", status_code=303)


@router.get("/companies/{company_id}", response_class=HTMLResponse)
def company_page(
    request: Request,
    session: SessionDep,
    company: CompanyDep,
    user: CurrentUser,
    cursor: str | None = None,
) -> HTMLResponse:
    contacts, more = contact_service.list_contacts(session, company_id=company.id)
    return render(
        request,
        "contacts/company.html",
        {
            "company": company,
            "contacts": contacts,
            "more_contacts": more,
            **_timeline(session, user, f"/companies/{company.id}", cursor, company_id=company.id),
        },
    )


@router.get("/companies/{company_id}/edit", response_class=HTMLResponse)
def edit_company_page(
    request: Request, session: SessionDep, company: CompanyDep, user: Editor
) -> HTMLResponse:
    return _company_form(
        request, session, company=company, form=CompanyForm.of(company), errors=_errors(request)
    )


@router.post("/companies/{company_id}", response_class=HTMLResponse)
def update_company(
    request: Request,
    session: SessionDep,
    company: CompanyDep,
    user: Editor,
    form: Annotated[CompanyForm, Form()],
) -> Response:
    errors = _errors(request)
    try:
        contact_service.update_company(
            session, company=company, data=CompanyUpdate(**form.values()), actor_id=user.id
        )
    except (ValidationError, CRMError) as exc:
        errors.add_error(exc)
    if errors:
        return _company_form(
            request, session, company=company, form=form, errors=errors, status_code=422
        )
    flash(request, "success", N_("Changes saved."))
    return RedirectResponse(f"/companies/{company.id}", status_code=303)


@router.post("/companies/{company_id}/delete")
def delete_company(
    request: Request, session: SessionDep, company: CompanyDep, user: Editor
) -> Response:
    name = company.name
    contact_service.delete_company(session, company=company, actor_id=user.id)
    flash(request, "success", N_("%(name)s was deleted."), name=name)
    return RedirectResponse("/companies", status_code=303)
