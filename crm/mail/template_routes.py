"""Mail templates: the admins' pages, the JSON API, and a template written for a contact."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import HTMLResponse

from crm.contacts import service as contact_service
from crm.contacts.deps import Editor
from crm.core.db import SessionDep
from crm.core.errors import N_
from crm.core.forms import FormErrors
from crm.core.templating import render, run_change, save_form
from crm.mail import drafts
from crm.mail.template_models import (
    MailDraft,
    MailPreviewRequest,
    MailTemplate,
    MailTemplateCreate,
    MailTemplatePublic,
    MailTemplateUpdate,
)
from crm.users.deps import AdminUser, CurrentUser

router = APIRouter(tags=["pages"], include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", tags=["mail"])

FIELDS = ("name", "kind", "subject_en", "body_en", "subject_de", "body_de")


def valid_template_id(template_id: int, session: SessionDep) -> MailTemplate:
    return drafts.get_template(session, template_id=template_id)


TemplateDep = Annotated[MailTemplate, Depends(valid_template_id)]


# --- the JSON API --------------------------------------------------------------------


@api_router.get("/mail-templates", response_model=list[MailTemplatePublic])
def api_templates(session: SessionDep, user: CurrentUser) -> Any:
    return drafts.list_templates(session)


@api_router.post("/mail-templates", response_model=MailTemplatePublic, status_code=201)
def api_create_template(session: SessionDep, admin: AdminUser, data: MailTemplateCreate) -> Any:
    """Texts are Jinja2 in a sandbox; a text that cannot be rendered is refused (422)."""
    return drafts.create_template(session, data=data, actor_id=admin.id)


@api_router.get("/mail-templates/{template_id}", response_model=MailTemplatePublic)
def api_template(user: CurrentUser, template: TemplateDep) -> Any:
    return template


@api_router.patch("/mail-templates/{template_id}", response_model=MailTemplatePublic)
def api_update_template(
    session: SessionDep, admin: AdminUser, template: TemplateDep, data: MailTemplateUpdate
) -> Any:
    return drafts.update_template(session, template=template, data=data, actor_id=admin.id)


@api_router.delete("/mail-templates/{template_id}", status_code=status.HTTP_204_NO_CONTENT)
def api_delete_template(session: SessionDep, admin: AdminUser, template: TemplateDep) -> None:
    drafts.delete_template(session, template=template, actor_id=admin.id)


@api_router.post("/mail-templates/{template_id}/preview", response_model=MailDraft)
def api_preview(
    request: Request,
    session: SessionDep,
    user: Editor,
    template: TemplateDep,
    data: MailPreviewRequest,
) -> Any:
    """The template written for a contact, in their language, with your signature."""
    return drafts.draft_for(
        session,
        template=template,
        contact=contact_service.get_contact(session, contact_id=data.contact_id),
        user=user,
        default_language=request.app.state.settings.default_language,
    )


# --- pages ---------------------------------------------------------------------------


def _form(template: MailTemplate | None) -> dict[str, str]:
    return {
        name: str(getattr(template, name) or "")
        if template
        else ("contract" if name == "kind" else "")
        for name in FIELDS
    }


async def _typed(request: Request) -> dict[str, str]:
    sent = await request.form()
    return {name: str(sent.get(name, "")) for name in FIELDS}


Typed = Annotated[dict[str, str], Depends(_typed)]


def _template_page(
    request: Request,
    *,
    template: MailTemplate | None,
    form: dict[str, str],
    errors: FormErrors,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "mail/template.html",
        {
            "template": template,
            "form": form,
            "errors": errors,
            "preview": drafts.preview(form),
            "sample": drafts.SAMPLE,
        },
        status_code=status_code,
    )


@router.get("/mail-templates", response_class=HTMLResponse)
def templates_page(request: Request, session: SessionDep, admin: AdminUser) -> HTMLResponse:
    return render(request, "mail/templates.html", {"templates": drafts.list_templates(session)})


@router.get("/mail-templates/new", response_class=HTMLResponse)
def new_template_page(request: Request, admin: AdminUser) -> HTMLResponse:
    errors = FormErrors(request.state.language)
    return _template_page(request, template=None, form=_form(None), errors=errors)


@router.get("/mail-templates/{template_id}", response_class=HTMLResponse)
def template_page(request: Request, admin: AdminUser, template: TemplateDep) -> HTMLResponse:
    errors = FormErrors(request.state.language)
    return _template_page(request, template=template, form=_form(template), errors=errors)


@router.post("/mail-templates/preview", response_class=HTMLResponse)
def preview_new_template(request: Request, admin: AdminUser, typed: Typed) -> HTMLResponse:
    """The typed texts with the example values (the block ``template_preview`` for htmx)."""
    errors = FormErrors(request.state.language)
    return _template_page(request, template=None, form=typed, errors=errors)


@router.post("/mail-templates/{template_id}/preview", response_class=HTMLResponse)
def preview_template(
    request: Request, admin: AdminUser, template: TemplateDep, typed: Typed
) -> HTMLResponse:
    """As typed, not yet saved."""
    errors = FormErrors(request.state.language)
    return _template_page(request, template=template, form=typed, errors=errors)


def _save(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    template: MailTemplate | None,
    typed: dict[str, str],
) -> Response:
    def save() -> MailTemplate:
        if template is None:
            return drafts.create_template(
                session, data=MailTemplateCreate(**typed), actor_id=admin.id
            )
        return drafts.update_template(
            session, template=template, data=MailTemplateUpdate(**typed), actor_id=admin.id
        )

    def again(errors: FormErrors) -> Response:
        if template is not None:
            session.refresh(template)
        return _template_page(
            request, template=template, form=typed, errors=errors, status_code=422
        )

    return save_form(
        request,
        session,
        save,
        again=again,
        done=N_("Template %(name)s saved."),
        then=lambda saved: f"/mail-templates/{saved.id}",
    )


@router.post("/mail-templates", response_class=HTMLResponse)
def create_template(
    request: Request, session: SessionDep, admin: AdminUser, typed: Typed
) -> Response:
    return _save(request, session, admin, None, typed)


@router.post("/mail-templates/{template_id}", response_class=HTMLResponse)
def update_template(
    request: Request, session: SessionDep, admin: AdminUser, template: TemplateDep, typed: Typed
) -> Response:
    return _save(request, session, admin, template, typed)


@router.post("/mail-templates/{template_id}/delete")
def delete_template(
    request: Request, session: SessionDep, admin: AdminUser, template: TemplateDep
) -> Response:
    return run_change(
        request,
        session,
        lambda: drafts.delete_template(session, template=template, actor_id=admin.id),
        done=N_("Template deleted."),
        back="/mail-templates",
    )
