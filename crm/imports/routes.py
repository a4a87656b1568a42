"""Imports: the upload page, column mapping with a live preview, progress, the report;
and the JSON API."""

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Form, Request, Response, UploadFile, status
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from pydantic import BaseModel

from crm.contacts.deps import Editor
from crm.core.db import SessionDep
from crm.core.downloads import download
from crm.core.errors import N_, CRMError, Invalid
from crm.core.exports import csv_lines
from crm.core.forms import FormErrors
from crm.core.i18n import translations
from crm.core.schemas import Strict
from crm.core.templating import flash, render
from crm.imports import service as import_service
from crm.imports.models import ImportJob, ImportKind, ImportPublic, ImportStatus, OnDuplicate
from crm.imports.rows import fields_for
from crm.users.deps import CurrentUser
from crm.users.models import User

router = APIRouter(tags=["pages"], include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", tags=["imports"])


def _max_bytes(request: Request) -> int:
    return request.app.state.settings.import_max_mb * (1 << 20)


def _wake(request: Request) -> Any:
    """Wake the import runner once the response (and so the commit) is done."""
    return request.app.state.importer.wake


def _job(session: SessionDep, user: User, import_id: int) -> ImportJob:
    return import_service.get_import(session, import_id=import_id, user=user)


def _upload(
    request: Request, session: SessionDep, user: User, kind: ImportKind, file: UploadFile
) -> ImportJob:
    return import_service.create_import(
        session,
        kind=kind,
        filename=file.filename or "",
        stream=file.file,
        max_bytes=_max_bytes(request),
        actor_id=user.id,
    )


def _problem_lines(request: Request, job: ImportJob) -> StreamingResponse:
    gettext = translations(getattr(request.state, "language", "en")).gettext
    reading_session = request.app.state.reading_session
    job_id = job.id
    header = ["row", "outcome", "field", "message", "cells"]

    def lines() -> Iterator[str]:
        with reading_session() as session:
            found = session.get(ImportJob, job_id)
            rows = (
                [
                    p.row,
                    "skipped" if p.skipped else "error",
                    p.field or "",
                    gettext(p.message) % p.params if p.params else gettext(p.message),
                    *p.cells,
                ]
                for p in import_service.problems(session, job=found)
            )
            yield from csv_lines(header, rows)

    return download(
        lines(), filename=f"import-{job_id}-problems.csv", media_type="text/csv; charset=utf-8"
    )


# --- JSON API -----------------------------------------------------------------------


class StartRequest(Strict, BaseModel):
    # Column (its position, or its header cell) -> field; omitted: as the header suggests.
    mapping: dict[str, str] | None = None
    on_duplicate: OnDuplicate = OnDuplicate.SKIP


class PreviewRowPublic(BaseModel):
    row: int
    values: dict[str, str]
    problems: list[dict[str, Any]]
    existing_id: int | None


def _by_position(job: ImportJob, mapping: dict[str, str] | None) -> dict[str, str]:
    if mapping is None:
        return job.mapping
    positions = {name: str(i) for i, name in enumerate(job.columns)}
    return {positions.get(key, key): target for key, target in mapping.items()}


@api_router.post(
    "/{kind}/import", response_model=ImportPublic, status_code=status.HTTP_202_ACCEPTED
)
def api_import(
    request: Request,
    session: SessionDep,
    user: Editor,
    background: BackgroundTasks,
    kind: ImportKind,
    file: UploadFile,
    mapping: Annotated[str | None, Form(description="JSON: column -> field")] = None,
    on_duplicate: Annotated[OnDuplicate, Form()] = OnDuplicate.SKIP,
    start: Annotated[bool, Form(description="Start at once (else POST .../start)")] = True,
) -> Any:
    """Upload a CSV (or, for contacts, a vCard) file to `/contacts/import` or
    `/companies/import`; then poll `GET /api/v1/imports/{id}`."""
    try:
        wanted = json.loads(mapping) if mapping else None
    except json.JSONDecodeError as exc:
        raise Invalid(N_("The mapping is not valid JSON."), field="mapping") from exc
    if wanted is not None and not isinstance(wanted, dict):
        raise Invalid(N_("The mapping is not valid JSON."), field="mapping")
    job = _upload(request, session, user, kind, file)
    if start:
        import_service.start_import(
            session, job=job, mapping=_by_position(job, wanted), on_duplicate=on_duplicate
        )
        background.add_task(_wake(request))
    return job


@api_router.get("/imports", response_model=list[ImportPublic])
def api_imports(session: SessionDep, user: CurrentUser) -> Any:
    return import_service.list_imports(session, user=user)


@api_router.get("/imports/{import_id}", response_model=ImportPublic)
def api_import_status(
    request: Request, session: SessionDep, user: CurrentUser, import_id: int
) -> Any:
    return _job(session, user, import_id)


@api_router.post("/imports/{import_id}/preview", response_model=list[PreviewRowPublic])
def api_preview(
    request: Request, session: SessionDep, user: Editor, import_id: int, data: StartRequest
) -> Any:
    job = _job(session, user, import_id)
    rows = import_service.preview(session, job=job, mapping=_by_position(job, data.mapping))
    return [
        PreviewRowPublic(
            row=r.number,
            values=r.values,
            problems=[
                {"field": p.field, "message": p.message % p.params if p.params else p.message}
                for p in r.problems
            ],
            existing_id=r.existing_id,
        )
        for r in rows
    ]


@api_router.post(
    "/imports/{import_id}/start", response_model=ImportPublic, status_code=status.HTTP_202_ACCEPTED
)
def api_start(
    request: Request,
    session: SessionDep,
    user: Editor,
    background: BackgroundTasks,
    import_id: int,
    data: StartRequest,
) -> Any:
    job = _job(session, user, import_id)
    import_service.start_import(
        session, job=job, mapping=_by_position(job, data.mapping), on_duplicate=data.on_duplicate
    )
    background.add_task(_wake(request))
    return job


@api_router.get("/imports/{import_id}/problems.csv")
def api_problems(
    request: Request, session: SessionDep, user: CurrentUser, import_id: int
) -> StreamingResponse:
    return _problem_lines(request, _job(session, user, import_id))


@api_router.delete("/imports/{import_id}", status_code=status.HTTP_204_NO_CONTENT)
def api_delete(request: Request, session: SessionDep, user: Editor, import_id: int) -> Response:
    import_service.delete_import(session, job=_job(session, user, import_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- pages --------------------------------------------------------------------------


def _errors(request: Request) -> FormErrors:
    return FormErrors(getattr(request.state, "language", "en"))


def _imports_page(
    request: Request,
    session: SessionDep,
    user: User,
    *,
    kind: str,
    errors: FormErrors,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "imports/list.html",
        {
            "imports": import_service.list_imports(session, user=user),
            "kind": kind,
            "errors": errors,
            "max_mb": request.app.state.settings.import_max_mb,
        },
        status_code=status_code,
    )


@router.get("/imports", response_class=HTMLResponse)
def imports_page(
    request: Request, session: SessionDep, user: Editor, kind: ImportKind = ImportKind.CONTACTS
) -> HTMLResponse:
    return _imports_page(request, session, user, kind=kind, errors=_errors(request))


@router.post("/imports", response_class=HTMLResponse)
def upload(
    request: Request,
    session: SessionDep,
    user: Editor,
    kind: Annotated[ImportKind, Form()],
    file: UploadFile,
) -> Response:
    try:
        job = _upload(request, session, user, kind, file)
    except CRMError as exc:
        errors = _errors(request)
        errors.add_crm_error(exc)
        return _imports_page(request, session, user, kind=kind, errors=errors, status_code=422)
    return RedirectResponse(f"/imports/{job.id}", status_code=303)


def _import_page(
    request: Request,
    session: SessionDep,
    job: ImportJob,
    *,
    errors: FormErrors,
    mapping: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context: dict[str, Any] = {
        "job": job,
        "fields": fields_for(job.kind),
        "mapping": job.mapping if mapping is None else mapping,
        "errors": errors,
        "rows": [],
    }
    if job.status == ImportStatus.UPLOADED and not errors:
        try:
            context["rows"] = import_service.preview(session, job=job, mapping=context["mapping"])
        except CRMError as exc:
            errors.add_crm_error(exc)
    return render(request, "imports/detail.html", context, status_code=status_code)


def _form_mapping(job: ImportJob, columns: list[str]) -> dict[str, str]:
    """The page sends one choice per column, in order."""
    return {str(position): target for position, target in enumerate(columns) if target}


@router.get("/imports/{import_id}", response_class=HTMLResponse)
def import_page(
    request: Request, session: SessionDep, user: Editor, import_id: int
) -> HTMLResponse:
    job = _job(session, user, import_id)
    return _import_page(request, session, job, errors=_errors(request))


@router.post("/imports/{import_id}/preview", response_class=HTMLResponse)
def preview_fragment(
    request: Request,
    session: SessionDep,
    user: Editor,
    import_id: int,
    column: Annotated[list[str], Form()] = (),
) -> HTMLResponse:
    job = _job(session, user, import_id)
    errors = _errors(request)
    mapping = _form_mapping(job, list(column))
    try:
        rows = import_service.preview(session, job=job, mapping=mapping)
    except CRMError as exc:
        errors.add_crm_error(exc)
        rows = []
    return render(
        request,
        "imports/detail.html",
        {
            "job": job,
            "fields": fields_for(job.kind),
            "mapping": mapping,
            "errors": errors,
            "rows": rows,
        },
        block="preview",
        status_code=422 if errors else 200,
    )


@router.post("/imports/{import_id}/start", response_class=HTMLResponse)
def start(
    request: Request,
    session: SessionDep,
    user: Editor,
    background: BackgroundTasks,
    import_id: int,
    on_duplicate: Annotated[OnDuplicate, Form()] = OnDuplicate.SKIP,
    column: Annotated[list[str], Form()] = (),
) -> Response:
    job = _job(session, user, import_id)
    mapping = _form_mapping(job, list(column))
    try:
        import_service.start_import(session, job=job, mapping=mapping, on_duplicate=on_duplicate)
    except CRMError as exc:
        errors = _errors(request)
        errors.add_crm_error(exc)
        return _import_page(request, session, job, errors=errors, mapping=mapping, status_code=422)
    background.add_task(_wake(request))
    return RedirectResponse(f"/imports/{job.id}", status_code=303)


@router.get("/imports/{import_id}/problems.csv")
def problems_csv(
    request: Request, session: SessionDep, user: Editor, import_id: int
) -> StreamingResponse:
    return _problem_lines(request, _job(session, user, import_id))


@router.post("/imports/{import_id}/delete")
def delete(request: Request, session: SessionDep, user: Editor, import_id: int) -> Response:
    job = _job(session, user, import_id)
    try:
        import_service.delete_import(session, job=job)
    except CRMError as exc:
        flash(request, "error", exc.message, **exc.params)
        return RedirectResponse(f"/imports/{job.id}", status_code=303)
    flash(request, "success", N_("The import was deleted."))
    return RedirectResponse("/imports", status_code=303)
