"""Data protection: the JSON API."""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import FileResponse

from crm.contacts.deps import ContactDep
from crm.core import audit, mail
from crm.core.db import SessionDep
from crm.core.errors import N_, NotFound
from crm.core.schemas import Day
from crm.gdpr import cases, erasure, export, opt_in, retention, rights
from crm.gdpr import service as gdpr_service
from crm.gdpr.deps import (
    AuditReader,
    ConsentRecorder,
    Dpo,
    PrivacyOfficer,
    PurposeDep,
    RequestDep,
)
from crm.gdpr.models import (
    ConsentChange,
    ConsentEventPublic,
    Consents,
    ConsentTextCreate,
    ConsentTextPublic,
    DoubleOptIn,
    ErasurePublic,
    ErasureRequest,
    ObjectionChange,
    PrivacyFlags,
    PrivacyRequest,
    PrivacySettingsPublic,
    ProposalDecision,
    ProposalPublic,
    PurposeCreate,
    PurposePublic,
    PurposeUpdate,
    RequestCreate,
    RequestExtension,
    RequestKind,
    RequestPublic,
    RequestsPage,
    RequestStatus,
    RequestUpdate,
    RestrictionChange,
)
from crm.mail import files as mail_files
from crm.users.deps import CurrentUser

api_router = APIRouter(prefix="/api/v1", tags=["data protection"])


def client_of(request: Request) -> tuple[str | None, str | None]:
    """The evidence of a web request: its IP address and user agent."""
    return (request.client.host if request.client else None), request.headers.get("user-agent")


def withdrawal_url(request: Request, *, contact_id: int, purpose: str) -> str:
    token = gdpr_service.withdrawal_token(
        request.app.state.settings.secret_key, contact_id=contact_id, purpose=purpose
    )
    return str(request.url_for("withdraw_page", token=token))


def consents_with_links(request: Request, consents: Consents, *, contact_id: int) -> Consents:
    """The contact's consents, each granted one with the link that withdraws it."""
    for state in consents.states:
        if state.granted:
            state.withdrawal_url = withdrawal_url(
                request, contact_id=contact_id, purpose=state.purpose
            )
    return consents


@api_router.get("/purposes", response_model=list[PurposePublic])
def api_purposes(session: SessionDep, user: CurrentUser) -> list[PurposePublic]:
    """The register of processing activities (Art. 30)."""
    return [PurposePublic.model_validate(p) for p in gdpr_service.list_purposes(session)]


@api_router.post("/purposes", response_model=PurposePublic, status_code=201)
def api_create_purpose(
    session: SessionDep, officer: PrivacyOfficer, data: PurposeCreate
) -> PurposePublic:
    purpose = gdpr_service.create_purpose(session, data=data, actor_id=officer.id)
    return PurposePublic.model_validate(purpose)


@api_router.get("/purposes/{purpose_id}", response_model=PurposePublic)
def api_purpose(purpose: PurposeDep, user: CurrentUser) -> PurposePublic:
    return PurposePublic.model_validate(purpose)


@api_router.patch("/purposes/{purpose_id}", response_model=PurposePublic)
def api_update_purpose(
    session: SessionDep, purpose: PurposeDep, officer: PrivacyOfficer, data: PurposeUpdate
) -> PurposePublic:
    purpose = gdpr_service.update_purpose(session, purpose=purpose, data=data, actor_id=officer.id)
    return PurposePublic.model_validate(purpose)


@api_router.get("/purposes/{purpose_id}/texts", response_model=list[ConsentTextPublic])
def api_consent_texts(
    session: SessionDep, purpose: PurposeDep, user: CurrentUser
) -> list[ConsentTextPublic]:
    """Every version of the purpose's consent text, newest first per language."""
    texts = gdpr_service.texts_of(session, purpose=purpose)
    return [ConsentTextPublic.model_validate(t) for t in texts]


@api_router.post("/purposes/{purpose_id}/texts", response_model=ConsentTextPublic, status_code=201)
def api_add_consent_text(
    session: SessionDep, purpose: PurposeDep, officer: PrivacyOfficer, data: ConsentTextCreate
) -> ConsentTextPublic:
    """A new version; consents given to an older one ask for renewal."""
    text = gdpr_service.add_consent_text(session, purpose=purpose, data=data, actor_id=officer.id)
    return ConsentTextPublic.model_validate(text)


@api_router.get("/contacts/{contact_id}/consents", response_model=Consents)
def api_consents(
    request: Request, session: SessionDep, contact: ContactDep, user: CurrentUser
) -> Consents:
    """The contact's consent per purpose, with the link that withdraws each granted one,
    and the whole log."""
    consents = gdpr_service.consents_of(session, contact=contact)
    return consents_with_links(request, consents, contact_id=contact.id)


@api_router.post(
    "/contacts/{contact_id}/consents", response_model=ConsentEventPublic, status_code=201
)
def api_record_consent(
    request: Request,
    session: SessionDep,
    contact: ContactDep,
    user: ConsentRecorder,
    data: ConsentChange,
) -> ConsentEventPublic:
    """Grant or withdraw a consent; the log keeps every change."""
    ip, user_agent = client_of(request)
    event = gdpr_service.record_consent(
        session,
        contact=contact,
        data=data,
        actor_id=user.id,
        ip=ip,
        user_agent=user_agent,
        default_language=request.app.state.settings.default_language,
    )
    return gdpr_service.event_public(session, event)


@api_router.post("/contacts/{contact_id}/restriction", response_model=PrivacyFlags)
def api_restriction(
    session: SessionDep, contact: ContactDep, officer: PrivacyOfficer, data: RestrictionChange
) -> PrivacyFlags:
    """Art. 18: restrict the processing (the record turns read-only), or lift it."""
    rights.set_restriction(
        session, contact=contact, restricted=data.restricted, actor_id=officer.id
    )
    return PrivacyFlags.model_validate(contact, from_attributes=True)


@api_router.post("/contacts/{contact_id}/objection", response_model=PrivacyFlags)
def api_objection(
    session: SessionDep, contact: ContactDep, user: ConsentRecorder, data: ObjectionChange
) -> PrivacyFlags:
    """Art. 21(2): record an objection to direct marketing (in force at once), or lift it."""
    rights.set_objection(session, contact=contact, objected=data.objected, actor_id=user.id)
    return PrivacyFlags.model_validate(contact, from_attributes=True)


def confirm_link(request: Request) -> Callable[[str], str]:
    return lambda token: str(request.url_for("confirm_page", token=token))


def mailer(request: Request) -> Callable[[str, str, str], None]:
    settings = request.app.state.settings
    return lambda to, subject, body: mail.send(settings, to=to, subject=subject, body=body)


@api_router.post(
    "/contacts/{contact_id}/consents/double-opt-in",
    response_model=ConsentEventPublic,
    status_code=201,
)
def api_double_opt_in(
    request: Request,
    session: SessionDep,
    contact: ContactDep,
    user: ConsentRecorder,
    data: DoubleOptIn,
) -> ConsentEventPublic:
    """E-mail the consent text with a confirmation link; the consent counts once the
    contact opens it. 503 when no mail server takes the message (nothing is recorded)."""
    sent = opt_in.start(
        session,
        contact=contact,
        purpose=data.purpose,
        actor_id=user.id,
        secret_key=request.app.state.settings.secret_key,
        link=confirm_link(request),
        send=mailer(request),
        default_language=request.app.state.settings.default_language,
    )
    return gdpr_service.event_public(session, sent)


def _public(found: PrivacyRequest) -> RequestPublic:
    return RequestPublic.model_validate(found, update={"overdue": cases.is_overdue(found)})


@api_router.get("/privacy-requests", response_model=RequestsPage)
def api_requests(
    session: SessionDep,
    officer: PrivacyOfficer,
    status: RequestStatus | None = None,
    open: bool = False,
    kind: RequestKind | None = None,
    due_before: Day | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RequestsPage:
    """Requests by due date, soonest first; ``open=true`` for those not yet closed."""
    items, next_cursor = cases.list_requests(
        session,
        status=status,
        open_only=open,
        kind=kind,
        due_before=due_before,
        cursor=cursor,
        limit=limit,
    )
    return RequestsPage(items=[_public(r) for r in items], next_cursor=next_cursor)


@api_router.post("/privacy-requests", response_model=RequestPublic, status_code=201)
def api_create_request(
    session: SessionDep, officer: PrivacyOfficer, data: RequestCreate
) -> RequestPublic:
    return _public(cases.create_request(session, data=data, actor_id=officer.id))


@api_router.get("/privacy-requests/{request_id}", response_model=RequestPublic)
def api_request(found: RequestDep, officer: PrivacyOfficer) -> RequestPublic:
    return _public(found)


@api_router.patch("/privacy-requests/{request_id}", response_model=RequestPublic)
def api_update_request(
    session: SessionDep, found: RequestDep, officer: PrivacyOfficer, data: RequestUpdate
) -> RequestPublic:
    return _public(cases.update_request(session, found=found, data=data, actor_id=officer.id))


@api_router.post("/privacy-requests/{request_id}/extend", response_model=RequestPublic)
def api_extend_request(
    session: SessionDep, found: RequestDep, officer: PrivacyOfficer, data: RequestExtension
) -> RequestPublic:
    """Once, by one or two months, with the reason."""
    return _public(cases.extend_request(session, found=found, data=data, actor_id=officer.id))


def export_dir(request: Request) -> Path:
    return request.app.state.settings.var_dir / "exports"


def export_response(path: Path) -> FileResponse:
    return FileResponse(path, media_type="application/zip", filename=path.name)


@api_router.post(
    "/privacy-requests/{request_id}/export",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "The export."}},
)
def api_export(
    request: Request, session: SessionDep, found: RequestDep, officer: PrivacyOfficer
) -> FileResponse:
    """A ZIP of everything held about the request's contact (Art. 15 and 20)."""
    path = export.write_export(
        session,
        found=found,
        directory=export_dir(request),
        attachments=mail_files.directory(request.app.state.settings),
        actor_id=officer.id,
        language=request.state.language,
    )
    return export_response(path)


def erasure_log(request: Request) -> Path:
    return request.app.state.settings.var_dir / "erasures.jsonl"


@api_router.post("/privacy-requests/{request_id}/erase", response_model=ErasurePublic)
def api_erase(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    found: RequestDep,
    officer: PrivacyOfficer,
    data: ErasureRequest | None = None,
) -> ErasurePublic:
    """Erase the request's contact in one transaction (Art. 17); closes the request. The
    answer lists free text elsewhere that names them, for redacting by hand."""
    erased = erasure.erase_request(
        session, found=found, data=data or ErasureRequest(), actor_id=officer.id
    )
    after_erasures(request, background, [erased])
    return erasure.public(session, erased.tombstone)


@api_router.get("/privacy-requests/{request_id}/erasure", response_model=ErasurePublic)
def api_erasure(session: SessionDep, found: RequestDep, officer: PrivacyOfficer) -> ErasurePublic:
    tombstone = erasure.of_request(session, request_id=found.id)
    if tombstone is None:
        raise NotFound(N_("This request erased nobody."))
    return erasure.public(session, tombstone)


@api_router.post("/erasure-mentions/{mention_id}/redacted", status_code=204)
def api_mark_redacted(session: SessionDep, mention_id: int, officer: PrivacyOfficer) -> None:
    erasure.mark_redacted(session, mention_id=mention_id, actor_id=officer.id)


@api_router.get("/privacy-settings", response_model=PrivacySettingsPublic)
def api_privacy_settings(session: SessionDep, officer: PrivacyOfficer) -> PrivacySettingsPublic:
    return PrivacySettingsPublic.model_validate(
        cases.privacy_settings(session), from_attributes=True
    )


@api_router.put("/privacy-settings", response_model=PrivacySettingsPublic)
def api_update_privacy_settings(
    session: SessionDep, dpo: Dpo, data: PrivacySettingsPublic
) -> PrivacySettingsPublic:
    """Only the DPO decides whether administrators may handle requests too, and after how
    long quiet leads are proposed for erasure."""
    return PrivacySettingsPublic.model_validate(
        cases.update_settings(session, data=data, actor_id=dpo.id)
    )


@api_router.get("/retention-proposals", response_model=list[ProposalPublic])
def api_proposals(session: SessionDep, officer: PrivacyOfficer) -> list[ProposalPublic]:
    """Contacts with no remaining reason to keep them, the longest quiet first."""
    return [ProposalPublic.model_validate(p) for p, _ in retention.proposals(session)]


def after_erasures(
    request: Request, background: BackgroundTasks, erased: list[erasure.Erased]
) -> None:
    """Once the transaction is committed: log each tombstone, delete exports, scrub."""
    for done in erased:
        background.add_task(
            erasure.after_commit,
            request.app.state.engine,
            done,
            log_path=erasure_log(request),
            export_dir=export_dir(request),
            attachment_dir=mail_files.directory(request.app.state.settings),
        )


@api_router.post("/retention-proposals/approve", response_model=list[ErasurePublic])
def api_approve_proposals(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    officer: PrivacyOfficer,
    data: ProposalDecision,
) -> list[ErasurePublic]:
    """Erase the proposed contacts (Art. 17(1)(a)); the answer holds their tombstones."""
    erased = retention.approve(session, ids=data.ids, actor_id=officer.id)
    after_erasures(request, background, erased)
    return [erasure.public(session, e.tombstone) for e in erased]


@api_router.post("/retention-proposals/dismiss", response_model=int)
def api_dismiss_proposals(
    session: SessionDep, officer: PrivacyOfficer, data: ProposalDecision
) -> int:
    """Keep them; answers how many proposals were dismissed."""
    return retention.dismiss(session, ids=data.ids, actor_id=officer.id)


@api_router.get("/audit-events", response_model=audit.AuditEventsPage)
def api_audit_events(
    session: SessionDep,
    reader: AuditReader,
    entity_type: str | None = None,
    entity_id: int | None = None,
    actor_id: int | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> audit.AuditEventsPage:
    """Who did what to which record and when, newest first; never the values."""
    items, next_cursor = audit.list_events(
        session,
        entity_type=entity_type,
        entity_id=entity_id,
        actor_id=actor_id,
        cursor=cursor,
        limit=limit,
    )
    return audit.AuditEventsPage(
        items=[audit.AuditEventPublic.model_validate(e) for e in items], next_cursor=next_cursor
    )
