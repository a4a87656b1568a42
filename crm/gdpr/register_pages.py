"""The register of processing activities: the printable page, and the DPO's edits of
its purposes and their consent texts."""

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from crm.core.db import SessionDep
from crm.core.errors import N_
from crm.core.templating import render, run_change
from crm.gdpr import cases
from crm.gdpr import service as gdpr_service
from crm.gdpr.deps import PrivacyOfficer, PurposeDep
from crm.gdpr.models import LEGAL_BASIS_NAMES, ConsentTextCreate, PurposeCreate, PurposeUpdate
from crm.users.deps import CurrentUser

router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/privacy/register", response_class=HTMLResponse)
def register_page(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    """The register of processing activities, a document to print or save."""
    purposes = gdpr_service.list_purposes(session)
    return render(
        request,
        "gdpr/register.html",
        {
            "purposes": purposes,
            "texts": {p.id: gdpr_service.texts_of(session, purpose=p) for p in purposes},
            "bases": LEGAL_BASIS_NAMES,
            "may_edit": cases.may_handle(session, user),
        },
    )


class PurposeForm(BaseModel):
    key: str = ""
    name: str = ""
    description: str = ""
    legal_basis: str = "b"
    data_categories: str = ""
    recipients: str = ""
    source: str = ""
    retention_months: str = ""
    is_marketing: bool = False
    is_active: bool = False

    def values(self) -> dict[str, Any]:
        return self.model_dump() | {"retention_months": self.retention_months or None}


@router.post("/privacy/purposes", response_class=HTMLResponse)
def create_purpose(
    request: Request,
    session: SessionDep,
    officer: PrivacyOfficer,
    form: Annotated[PurposeForm, Form()],
) -> Response:
    return run_change(
        request,
        session,
        lambda: gdpr_service.create_purpose(
            session, data=PurposeCreate(**form.values()), actor_id=officer.id
        ),
        done=N_("Purpose added to the register."),
        back="/privacy/register",
    )


@router.post("/privacy/purposes/{purpose_id}")
def update_purpose(
    request: Request,
    session: SessionDep,
    purpose: PurposeDep,
    officer: PrivacyOfficer,
    form: Annotated[PurposeForm, Form()],
) -> Response:
    values = form.values()
    values.pop("key")  # a purpose keeps its key: consents and rules name it
    return run_change(
        request,
        session,
        lambda: gdpr_service.update_purpose(
            session, purpose=purpose, data=PurposeUpdate(**values), actor_id=officer.id
        ),
        done=N_("Changes saved."),
        back=f"/privacy/register#purpose-{purpose.id}",
    )


@router.post("/privacy/purposes/{purpose_id}/texts")
def add_consent_text(
    request: Request,
    session: SessionDep,
    purpose: PurposeDep,
    officer: PrivacyOfficer,
    language: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
) -> Response:
    return run_change(
        request,
        session,
        lambda: gdpr_service.add_consent_text(
            session,
            purpose=purpose,
            data=ConsentTextCreate(language=language, body=body),
            actor_id=officer.id,
        ),
        done=N_("New version of the consent text saved."),
        back=f"/privacy/register#purpose-{purpose.id}",
    )
