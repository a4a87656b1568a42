"""Deal pages: the list, the board of a pipeline, a deal's page, and their forms."""

from collections import Counter
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel
from sqlmodel import Session

from crm.contacts import service as contact_service
from crm.contacts.deps import EDITOR_ROLES, CompanyDep, ContactDep, Editor
from crm.core import lists
from crm.core.db import SessionDep
from crm.core.errors import N_, NotFound, Stale, check_version
from crm.core.forms import changed_fields, picked_id
from crm.core.handlers import is_htmx
from crm.core.i18n import SiteLanguage
from crm.core.periods import FormPeriod
from crm.core.security import safe_next
from crm.core.templating import flash, render, run_change
from crm.deals import board as deal_board
from crm.deals import figures
from crm.deals import service as deal_service
from crm.deals.deps import DealDep, PipelineDep, StageDep
from crm.deals.models import (
    CURRENCIES,
    DEFAULT_CURRENCY,
    Deal,
    DealCreate,
    DealStatus,
    DealUpdate,
    LostReason,
    PipelineCreate,
    PipelineUpdate,
    StageCreate,
    StageKind,
    StageUpdate,
)
from crm.deals.routes import deal_public, deals_public
from crm.journeys import service as journey_service
from crm.users import service as user_service
from crm.users.deps import AdminUser, CurrentUser
from crm.users.models import User

router = APIRouter(tags=["pages"], include_in_schema=False)


# Fields of the form that creates a deal, not of the one that edits it.
NOT_EDITED = {"next", "pipeline_id", "contact_id", "find"}


class DealForm(BaseModel):
    """A deal as the forms send it: every field a text, empty meaning none."""

    title: str = ""
    pipeline_id: str = ""
    company_id: str = ""
    amount: str = "0"
    currency: str = DEFAULT_CURRENCY
    probability: str = ""
    expected_close_date: str = ""
    next_step: str = ""
    next_step_date: str = ""
    renewal_date: str = ""
    source: str = ""
    notes: str = ""
    owner_id: str = ""
    contact_id: str = ""  # a contact's page creates the deal with that contact
    find: str = ""  # what was typed into the company finder
    next: str = ""
    version: str = ""  # the version the edit form showed: an older one is refused

    @classmethod
    def of(cls, deal: Deal) -> "DealForm":
        """The edit form as the deal stands (its own probability, empty for the stage's)."""
        fields = set(cls.model_fields) - NOT_EDITED
        return cls(**{name: str(v) for name in fields if (v := getattr(deal, name)) is not None})

    def values(self) -> dict[str, Any]:
        """The new deal's fields that were filled in."""
        picked_id(self.company_id, find=self.find, field="company_id")
        fields = self.model_dump(exclude=NOT_EDITED)
        values = {name: value for name, value in fields.items() if value.strip()}
        if self.contact_id.isdigit():
            values["contacts"] = [{"contact_id": int(self.contact_id)}]
        return values

    def edited(self) -> dict[str, str | None]:
        """The edit form's fields, an empty one meaning none: it clears the field."""
        picked_id(self.company_id, find=self.find, field="company_id")
        fields = self.model_dump(exclude=NOT_EDITED)
        return {name: value.strip() or None for name, value in fields.items()}


@router.get("/deals", response_class=HTMLResponse)
def deals_page(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    status: Annotated[str, Query()] = "open",
    pipeline: Annotated[str, Query()] = "",
    owner: Annotated[str, Query()] = "",
    q: Annotated[str, Query()] = "",
    cursor: str | None = None,
) -> HTMLResponse:
    deals, next_cursor = deal_service.list_deals(
        session,
        status=DealStatus(status) if status in set(DealStatus) else None,
        pipeline_id=int(pipeline) if pipeline.isdigit() else None,
        owner_id=int(owner) if owner.isdigit() else None,
        q=q or None,
        cursor=cursor,
    )
    return render(
        request,
        "deals/list.html",
        {
            "deals": deals_public(session, deals),
            "next_cursor": next_cursor,
            "query": {"status": status, "pipeline": pipeline, "owner": owner, "q": q},
            "pipelines": deal_service.list_pipelines(session),
            "stages": deal_service.stage_names(session),
            "owners": user_service.active_user_choices(session),
            "currencies": sorted(CURRENCIES),
            "default_currency": DEFAULT_CURRENCY,
        },
    )


@router.get("/deals/figures", response_class=HTMLResponse)
def figures_page(
    request: Request, session: SessionDep, user: CurrentUser, period: FormPeriod
) -> HTMLResponse:
    return render(
        request,
        "deals/figures.html",
        {
            "forecast": figures.forecast(session),
            "performance": figures.performance(session, since=period.since, until=period.until),
            "abc": Counter(figures.abc_classes(session).values()),
            "lost_reasons": {
                r.key: r.name for r in lists.entries(session, LostReason, active_only=False)
            },
            "first": period.first,
            "last": period.last,
            "default_currency": DEFAULT_CURRENCY,
        },
    )


@router.post("/deals")
def create_deal(
    request: Request, session: SessionDep, user: Editor, form: Annotated[DealForm, Form()]
) -> Response:
    pipeline_id = int(form.pipeline_id) if form.pipeline_id.isdigit() else None
    return run_change(
        request,
        session,
        lambda: deal_service.create_deal(
            session, data=DealCreate(**form.values(), pipeline_id=pipeline_id), actor_id=user.id
        ),
        done=N_("Deal created."),
        back=safe_next(form.next, "/deals"),
        then=lambda deal: f"/deals/{deal.id}",
    )


@router.get("/pipelines/{pipeline_id}", response_class=HTMLResponse)
def board_page(
    request: Request,
    session: SessionDep,
    pipeline: PipelineDep,
    user: CurrentUser,
    owner: Annotated[str, Query()] = "",
    stale: bool = False,
) -> HTMLResponse:
    filters = deal_board.BoardFilter(owner_id=int(owner) if owner.isdigit() else None, stale=stale)
    return render(
        request,
        "deals/board.html",
        {
            "pipeline": pipeline,
            "pipelines": deal_service.list_pipelines(session),
            "columns": deal_board.board(session, pipeline=pipeline, filters=filters),
            "owners": user_service.active_user_choices(session),
            "query": {"owner": owner, "stale": stale},
            "lost_reasons": lists.entries(session, LostReason),
        },
    )


@router.get("/pipelines/{pipeline_id}/stages/{stage_id}/cards", response_class=HTMLResponse)
def more_cards(
    request: Request,
    session: SessionDep,
    pipeline: PipelineDep,
    stage: StageDep,
    user: CurrentUser,
    cursor: str | None = None,
    owner: Annotated[str, Query()] = "",
    stale: bool = False,
) -> Response:
    if stage.pipeline_id != pipeline.id:
        raise NotFound(N_("No such stage."))
    if not is_htmx(request):  # a bookmark or a new tab: the whole board, not bare cards
        shown = urlencode(
            {k: v for k, v in {"owner": owner, "stale": stale and "true"}.items() if v}
        )
        return RedirectResponse(f"/pipelines/{pipeline.id}?{shown}", status_code=303)
    filters = deal_board.BoardFilter(owner_id=int(owner) if owner.isdigit() else None, stale=stale)
    cards, next_cursor = deal_board.column_page(
        session, stage=stage, filters=filters, cursor=cursor
    )
    return render(
        request,
        "deals/_cards.html",
        {
            "pipeline": pipeline,
            "stage": stage,
            "cards": cards,
            "next_cursor": next_cursor,
            "query": {"owner": owner, "stale": stale},
        },
    )


@router.get("/deals/{deal_id}", response_class=HTMLResponse)
def deal_page(
    request: Request, session: SessionDep, deal: DealDep, user: CurrentUser
) -> HTMLResponse:
    return _deal_page(request, session, deal, user, edit=DealForm.of(deal))


def _deal_page(
    request: Request,
    session: Session,
    deal: Deal,
    user: User,
    *,
    edit: DealForm,
    changed: list[tuple[str, str, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    pipeline = deal_service.get_pipeline(session, pipeline_id=deal.pipeline_id)
    stages = deal_service.stages_of(session, pipeline, archived=True)
    return render(
        request,
        "deals/deal.html",
        {
            "deal": deal_public(session, deal),
            "edit": edit,
            "changed": changed or [],
            "pipeline": pipeline,
            "stages": [s for s in stages if not s.is_archived],
            "stage_names": {s.id: s.name for s in stages},
            "history": deal_service.time_in_stages(session, deal=deal),
            "lost_reasons": lists.entries(session, LostReason),
            "currencies": sorted(CURRENCIES),
            "owners": user_service.active_user_choices(session),
            "company": contact_service.finder_choice(
                session, kind="companies", record_id=edit.company_id
            ),
            "may_change": user.has_role(*EDITOR_ROLES),
        },
        status_code=status_code,
    )


@router.post("/deals/{deal_id}")
def update_deal(
    request: Request,
    session: SessionDep,
    deal: DealDep,
    user: Editor,
    form: Annotated[DealForm, Form()],
) -> Response:
    try:
        check_version(deal, int(form.version) if form.version.isdigit() else None)
    except Stale as exc:
        # Both versions side by side; saving again (with the version now shown) keeps
        # the user's, leaving the page keeps the other's.
        saved = DealForm.of(deal)
        flash(request, "error", exc.message)
        return _deal_page(
            request,
            session,
            deal,
            user,
            edit=form.model_copy(update={"version": saved.version}),
            changed=changed_fields(saved, form, skip=NOT_EDITED | {"version"}),
            status_code=409,
        )
    return run_change(
        request,
        session,
        lambda: deal_service.update_deal(
            session, deal=deal, data=DealUpdate(**form.edited()), actor_id=user.id
        ),
        done=N_("Changes saved."),
        back=f"/deals/{deal.id}",
    )


@router.post("/deals/{deal_id}/move")
def move_deal(
    request: Request,
    session: SessionDep,
    deal: DealDep,
    user: Editor,
    to: Annotated[str, Form()] = "",
    lost_reason: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    return run_change(
        request,
        session,
        lambda: deal_service.move_deal(
            session,
            deal=deal,
            stage_id=int(to) if to.isdigit() else 0,
            lost_reason=lost_reason or None,
            note=note or None,
            actor_id=user.id,
        ),
        done=N_("Moved."),
        back=safe_next(next, f"/deals/{deal.id}"),
    )


@router.post("/deals/{deal_id}/contacts")
def add_deal_contact(
    request: Request,
    session: SessionDep,
    deal: DealDep,
    user: Editor,
    contact_id: Annotated[str, Form()] = "",
    find: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
) -> Response:
    return run_change(
        request,
        session,
        lambda: deal_service.add_contact(
            session,
            deal=deal,
            contact_id=picked_id(contact_id, find=find, field="contact_id", required=True),
            role=role.strip()[:80] or None,
            actor_id=user.id,
        ),
        done=N_("Changes saved."),
        back=f"/deals/{deal.id}",
    )


@router.post("/deals/{deal_id}/contacts/{contact_id}/remove")
def remove_deal_contact(
    request: Request, session: SessionDep, deal: DealDep, contact_id: int, user: Editor
) -> Response:
    return run_change(
        request,
        session,
        lambda: deal_service.remove_contact(
            session, deal=deal, contact_id=contact_id, actor_id=user.id
        ),
        done=N_("Changes saved."),
        back=f"/deals/{deal.id}",
    )


@router.post("/deals/{deal_id}/reopen")
def reopen_deal(request: Request, session: SessionDep, deal: DealDep, user: Editor) -> Response:
    return run_change(
        request,
        session,
        lambda: deal_service.reopen_deal(session, deal=deal, actor_id=user.id),
        done=N_("The deal is open again."),
        back=f"/deals/{deal.id}",
    )


def _subject_deals(
    request: Request, session: SessionDep, user: Any, *, url: str, name: str, **subject: Any
) -> HTMLResponse:
    return render(
        request,
        "deals/subject_deals.html",
        {
            "subject_url": url,
            "name": name,
            "found": deal_board.subject_deals(session, **subject),
            "stage_names": deal_service.stage_names(session),
            "subject": subject,
            "may_change": user.has_role(*EDITOR_ROLES),
            "pipelines": deal_service.list_pipelines(session),
        },
    )


@router.get("/companies/{company_id}/deals", response_class=HTMLResponse)
def company_deals(
    request: Request, session: SessionDep, company: CompanyDep, user: CurrentUser
) -> HTMLResponse:
    url = f"/companies/{company.id}"
    return _subject_deals(request, session, user, url=url, name=company.name, company_id=company.id)


@router.get("/contacts/{contact_id}/deals", response_class=HTMLResponse)
def contact_deals(
    request: Request, session: SessionDep, contact: ContactDep, user: CurrentUser
) -> HTMLResponse:
    url = f"/contacts/{contact.id}"
    return _subject_deals(request, session, user, url=url, name=contact.name, contact_id=contact.id)


# --- the admin's pipelines ----------------------------------------------------------------


class StageForm(BaseModel):
    name: str = ""
    kind: str = StageKind.OPEN
    probability: str = "0"
    target_days: str = ""

    def values(self) -> dict[str, Any]:
        return {name: value.strip() or None for name, value in self.model_dump().items()}


@router.get("/pipelines", response_class=HTMLResponse)
def pipelines_page(request: Request, session: SessionDep, admin: AdminUser) -> HTMLResponse:
    return render(
        request,
        "deals/pipelines.html",
        {"pipelines": deal_service.list_pipelines(session, archived=True)},
    )


@router.post("/pipelines")
def create_pipeline(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    language: SiteLanguage,
    name: Annotated[str, Form()] = "",
) -> Response:
    return run_change(
        request,
        session,
        lambda: deal_service.create_pipeline(
            session, data=PipelineCreate(name=name), actor_id=admin.id, language=language
        ),
        done=N_("Pipeline created."),
        back="/pipelines",
        then=lambda pipeline: f"/pipelines/{pipeline.id}/settings",
    )


@router.get("/pipelines/{pipeline_id}/settings", response_class=HTMLResponse)
def settings_page(
    request: Request, session: SessionDep, pipeline: PipelineDep, admin: AdminUser
) -> HTMLResponse:
    return render(
        request,
        "deals/settings.html",
        {
            "pipeline": pipeline,
            "stages": deal_service.stages_of(session, pipeline, archived=True),
            "journeys": journey_service.list_journeys(session),
            "kinds": list(StageKind),
        },
    )


@router.post("/pipelines/{pipeline_id}/settings")
def update_pipeline(
    request: Request,
    session: SessionDep,
    pipeline: PipelineDep,
    admin: AdminUser,
    name: Annotated[str, Form()] = "",
    journey_id: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    move_on_won: Annotated[bool, Form()] = False,
    is_archived: Annotated[bool, Form()] = False,
) -> Response:
    return run_change(
        request,
        session,
        lambda: deal_service.update_pipeline(
            session,
            pipeline=pipeline,
            data=PipelineUpdate(
                name=name,
                description=description,
                journey_id=int(journey_id) if journey_id.isdigit() else None,
                move_on_won=move_on_won,
                is_archived=is_archived,
            ),
            actor_id=admin.id,
        ),
        done=N_("Changes saved."),
        back=f"/pipelines/{pipeline.id}/settings",
    )


@router.post("/pipelines/{pipeline_id}/stages")
def add_stage(
    request: Request,
    session: SessionDep,
    pipeline: PipelineDep,
    admin: AdminUser,
    form: Annotated[StageForm, Form()],
) -> Response:
    return run_change(
        request,
        session,
        lambda: deal_service.add_stage(
            session, pipeline=pipeline, data=StageCreate(**form.values()), actor_id=admin.id
        ),
        done=N_("Stage added."),
        back=f"/pipelines/{pipeline.id}/settings",
    )


@router.post("/stages/{stage_id}")
def update_stage(
    request: Request,
    session: SessionDep,
    stage: StageDep,
    admin: AdminUser,
    form: Annotated[StageForm, Form()],
    is_archived: Annotated[bool, Form()] = False,
) -> Response:
    return run_change(
        request,
        session,
        lambda: deal_service.update_stage(
            session,
            stage=stage,
            data=StageUpdate(**form.values(), is_archived=is_archived),
            actor_id=admin.id,
        ),
        done=N_("Changes saved."),
        back=f"/pipelines/{stage.pipeline_id}/settings",
    )


@router.post("/stages/{stage_id}/shift")
def shift_stage(
    request: Request,
    session: SessionDep,
    stage: StageDep,
    admin: AdminUser,
    by: Annotated[int, Form()] = 1,
) -> Response:
    """Move a stage one place up or down: the keyboard's way to reorder."""
    deal_service.shift_stage(session, stage=stage, by=by, actor_id=admin.id)
    return RedirectResponse(
        f"/pipelines/{stage.pipeline_id}/settings#stage-{stage.id}", status_code=303
    )
