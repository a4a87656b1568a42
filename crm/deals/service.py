"""Pipelines, stages and deals: creating, moving, winning, losing and reopening them, and
moving a won deal's customers on in the linked journey. No HTTP in here."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from crm.contacts.models import Company, Contact
from crm.core import audit, lists
from crm.core.db import utcnow
from crm.core.errors import N_, Conflict, Invalid, NotFound, check_version
from crm.core.i18n import translations
from crm.core.pagination import keyset_page
from crm.core.schemas import key_for
from crm.deals.models import (
    DEFAULT_LOST_REASONS,
    DEFAULT_STAGES,
    Deal,
    DealContact,
    DealContactIn,
    DealCreate,
    DealStage,
    DealStageChange,
    DealStatus,
    DealUpdate,
    LostReason,
    Pipeline,
    PipelineCreate,
    PipelineUpdate,
    StageCreate,
    StageKind,
    StageUpdate,
    fits_currency,
    with_contact,
)
from crm.journeys import service as journey_service
from crm.journeys.models import (
    Cause,
    Enrollment,
    EnrollmentCreate,
    EnrollmentStatus,
    Journey,
    MoveRequest,
    PhaseKind,
)
from crm.users import service as user_service

DEAL_WON = "deal won"


def seed_defaults(session: Session, *, language: str = "en") -> None:
    """The lost reasons that are missing, and a first pipeline on a new installation,
    linked to the Classic journey when there is one; named in the installation's language."""
    lists.seed(session, LostReason, DEFAULT_LOST_REASONS, language=language)
    if session.exec(select(func.count()).select_from(Pipeline)).one() == 0:
        journey = session.exec(select(Journey).order_by(Journey.id)).first()
        name = translations(language).gettext(N_("Sales"))
        pipeline = Pipeline(name=name, journey_id=journey.id if journey else None)
        _add_stages(session, pipeline, default_stages(language))
    session.flush()


# --- pipelines and stages ---------------------------------------------------------------


def list_pipelines(session: Session, *, archived: bool = False) -> list[Pipeline]:
    query = select(Pipeline).order_by(Pipeline.name)
    if not archived:
        query = query.where(col(Pipeline.is_archived).is_(False))
    return list(session.exec(query))


def get_pipeline(session: Session, *, pipeline_id: int) -> Pipeline:
    pipeline = session.get(Pipeline, pipeline_id)
    if pipeline is None:
        raise NotFound(N_("No such pipeline."))
    return pipeline


def stages_of(session: Session, pipeline: Pipeline, *, archived: bool = False) -> list[DealStage]:
    query = (
        select(DealStage)
        .where(DealStage.pipeline_id == pipeline.id)
        .order_by(DealStage.position, DealStage.id)
    )
    if not archived:
        query = query.where(col(DealStage.is_archived).is_(False))
    return list(session.exec(query))


def _check_pipeline_name(session: Session, name: str, *, pipeline_id: int | None) -> None:
    found = session.exec(
        select(Pipeline.id).where(func.lower(Pipeline.name) == name.lower())
    ).first()
    if found is not None and found != pipeline_id:
        raise Invalid(N_("A pipeline with this name exists already."), field="name")


def _check_journey(session: Session, journey_id: int | None) -> None:
    if journey_id is not None and session.get(Journey, journey_id) is None:
        raise Invalid(N_("Choose one of the offered values."), field="journey_id")


def create_pipeline(
    session: Session, *, data: PipelineCreate, actor_id: int | None, language: str = "en"
) -> Pipeline:
    """A pipeline with the stages given, else the default ones named in ``language``."""
    _check_pipeline_name(session, data.name, pipeline_id=None)
    _check_journey(session, data.journey_id)
    pipeline = Pipeline.model_validate(data.model_dump(exclude={"stages"}))
    _add_stages(session, pipeline, data.stages or default_stages(language))
    return audit.save(session, pipeline, actor_id=actor_id, action="pipeline.create")


def default_stages(language: str) -> list[StageCreate]:
    gettext = translations(language).gettext
    return [
        StageCreate(key=key, name=gettext(name), kind=kind, probability=p, target_days=days)
        for key, name, kind, p, days in DEFAULT_STAGES
    ]


def _add_stages(session: Session, pipeline: Pipeline, specs: list[StageCreate]) -> None:
    kinds = {spec.kind for spec in specs}
    if StageKind.OPEN not in kinds or StageKind.WON not in kinds or StageKind.LOST not in kinds:
        raise Invalid(
            N_("A pipeline needs open stages, a won stage and a lost stage."), field="stages"
        )
    session.add(pipeline)
    session.flush()
    taken: set[str] = set()
    for position, spec in enumerate(specs):
        key = spec.key or key_for(spec.name, taken, fallback="stage")
        if key in taken:
            raise Invalid(N_("A stage with this key exists already."), field="stages")
        taken.add(key)
        session.add(_stage(pipeline, spec, key=key, position=position * 10))
    session.flush()


def _stage(pipeline: Pipeline, spec: StageCreate, *, key: str, position: int) -> DealStage:
    return DealStage.model_validate(
        spec.model_dump(exclude={"key", "position"}),
        update={"pipeline_id": pipeline.id, "key": key, "position": position},
    )


def update_pipeline(
    session: Session, *, pipeline: Pipeline, data: PipelineUpdate, actor_id: int | None
) -> Pipeline:
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes:
        if not changes["name"]:
            raise Invalid(N_("This field is required."), field="name")
        _check_pipeline_name(session, changes["name"], pipeline_id=pipeline.id)
    if "journey_id" in changes:
        _check_journey(session, changes["journey_id"])
    for required in ("move_on_won", "is_archived"):
        if required in changes and changes[required] is None:
            raise Invalid(N_("This field is required."), field=required)
    pipeline.sqlmodel_update({**changes, "updated_at": utcnow()})
    return audit.save(
        session, pipeline, actor_id=actor_id, action="pipeline.update", fields=changes
    )


def delete_pipeline(session: Session, *, pipeline: Pipeline, actor_id: int | None) -> None:
    """Only a pipeline that never held a deal; one with deals is archived instead."""
    used = session.exec(select(Deal.id).where(Deal.pipeline_id == pipeline.id)).first()
    if used is not None:
        raise Conflict(N_("This pipeline has deals: archive it instead of deleting it."))
    audit.delete(session, pipeline, actor_id=actor_id, action="pipeline.delete")


def get_stage(session: Session, *, stage_id: int) -> DealStage:
    stage = session.get(DealStage, stage_id)
    if stage is None:
        raise NotFound(N_("No such stage."))
    return stage


def add_stage(
    session: Session, *, pipeline: Pipeline, data: StageCreate, actor_id: int | None
) -> DealStage:
    stages = stages_of(session, pipeline, archived=True)
    taken = {s.key for s in stages}
    if data.key and data.key in taken:
        raise Invalid(N_("A stage with this key exists already."), field="key")
    position = data.position
    if position is None:
        position = max((s.position for s in stages), default=-10) + 10
    stage = _stage(
        pipeline,
        data,
        key=data.key or key_for(data.name, taken, fallback="stage"),
        position=position,
    )
    return audit.save(session, stage, actor_id=actor_id, action="deal_stage.create")


def update_stage(
    session: Session, *, stage: DealStage, data: StageUpdate, actor_id: int | None
) -> DealStage:
    changes = data.model_dump(exclude_unset=True)
    for required in ("name", "kind", "probability", "position", "is_archived"):
        if required in changes and changes[required] is None:
            raise Invalid(N_("This field is required."), field=required)
    held = session.exec(select(Deal.id).where(Deal.stage_id == stage.id)).first()
    if held is not None and changes.get("kind", stage.kind) != stage.kind:
        raise Conflict(N_("Deals are in this stage: its kind cannot change."))
    if changes.get("is_archived") and held is not None:
        raise Conflict(N_("Deals are in this stage: move them before archiving it."))
    stage.sqlmodel_update(changes)
    return audit.save(session, stage, actor_id=actor_id, action="deal_stage.update", fields=changes)


def reorder_stages(
    session: Session, *, pipeline: Pipeline, stage_ids: Sequence[int], actor_id: int | None
) -> list[DealStage]:
    stages = {s.id: s for s in stages_of(session, pipeline, archived=True)}
    if sorted(stage_ids) != sorted(stages):
        raise Invalid(N_("Give every stage of the pipeline once."), field="stage_ids")
    for position, stage_id in enumerate(stage_ids):
        stages[stage_id].position = position * 10
    session.flush()
    audit.record(
        session,
        actor_id=actor_id,
        action="pipeline.reorder",
        entity_type="pipeline",
        entity_id=pipeline.id,
        fields=["position"],
    )
    return stages_of(session, pipeline)


def shift_stage(session: Session, *, stage: DealStage, by: int, actor_id: int | None) -> None:
    """Swap a stage with its neighbour above (``by`` < 0) or below."""
    pipeline = get_pipeline(session, pipeline_id=stage.pipeline_id)
    ids = [s.id for s in stages_of(session, pipeline, archived=True)]
    index = ids.index(stage.id)
    other = min(max(index + (1 if by > 0 else -1), 0), len(ids) - 1)
    ids[index], ids[other] = ids[other], ids[index]
    reorder_stages(session, pipeline=pipeline, stage_ids=ids, actor_id=actor_id)


def _stage_of(session: Session, pipeline_id: int, stage_id: int) -> DealStage:
    stage = session.get(DealStage, stage_id)
    if stage is None or stage.pipeline_id != pipeline_id:
        raise Invalid(N_("Choose a stage of this pipeline."), field="stage_id")
    if stage.is_archived:
        raise Invalid(N_("This stage is archived."), field="stage_id")
    return stage


def _closing_stage(session: Session, pipeline_id: int, kind: StageKind) -> DealStage:
    stage = session.exec(
        select(DealStage)
        .where(
            DealStage.pipeline_id == pipeline_id,
            DealStage.kind == kind,
            col(DealStage.is_archived).is_(False),
        )
        .order_by(DealStage.position, DealStage.id)
    ).first()
    if stage is None:
        raise Conflict(N_("This pipeline has no stage for that."))
    return stage


# --- deals -------------------------------------------------------------------------------


def get_deal(session: Session, *, deal_id: int) -> Deal:
    deal = session.get(Deal, deal_id)
    if deal is None:
        raise NotFound(N_("No such deal."))
    return deal


def contacts_of(session: Session, deal: Deal) -> list[tuple[DealContact, Contact]]:
    return contacts_of_deals(session, [deal.id]).get(deal.id, [])


def contacts_of_deals(
    session: Session, deal_ids: list[int]
) -> dict[int, list[tuple[DealContact, Contact]]]:
    """The contacts of several deals, by deal, in one query."""
    found: dict[int, list[tuple[DealContact, Contact]]] = {}
    if not deal_ids:
        return found
    query = (
        select(DealContact, Contact)
        .join(Contact, Contact.id == DealContact.contact_id)
        .where(col(DealContact.deal_id).in_(deal_ids))
        .order_by(Contact.last_name, Contact.first_name, Contact.id)
    )
    for link, contact in session.exec(query).all():
        found.setdefault(link.deal_id, []).append((link, contact))
    return found


def company_names(session: Session, company_ids: set[int]) -> dict[int, str]:
    if not company_ids:
        return {}
    query = select(Company.id, Company.name).where(col(Company.id).in_(company_ids))
    return dict(session.exec(query).all())


def _check_links(session: Session, changes: dict[str, Any]) -> None:
    if (
        changes.get("company_id") is not None
        and session.get(Company, changes["company_id"]) is None
    ):
        raise Invalid(N_("Choose one of the offered values."), field="company_id")
    if changes.get("owner_id") is not None:
        user_service.check_active_user(session, changes["owner_id"], field="owner_id")


def _set_contacts(session: Session, deal: Deal, contacts: list[DealContactIn]) -> None:
    wanted = {c.contact_id: c.role for c in contacts}
    if wanted:
        found = set(session.exec(select(Contact.id).where(col(Contact.id).in_(wanted))))
        if missing := set(wanted) - found:
            raise Invalid(
                N_("No such contact: %(ids)s."),
                field="contacts",
                ids=", ".join(map(str, sorted(missing))),
            )
    for link in session.exec(select(DealContact).where(DealContact.deal_id == deal.id)):
        session.delete(link)
    session.flush()
    session.add_all(
        DealContact(deal_id=deal.id, contact_id=contact_id, role=role)
        for contact_id, role in wanted.items()
    )


def _check_amount(amount: Any, currency: str) -> None:
    try:
        fits_currency(amount, currency)
    except ValueError as exc:
        raise Invalid(N_("Too many decimal places for this currency."), field="amount") from exc


def create_deal(session: Session, *, data: DealCreate, actor_id: int | None) -> Deal:
    if data.pipeline_id is None:  # the oldest pipeline in use
        pipeline = session.exec(
            select(Pipeline).where(col(Pipeline.is_archived).is_(False)).order_by(Pipeline.id)
        ).first()
        if pipeline is None:
            raise Invalid(N_("Create a pipeline first."), field="pipeline_id")
    else:
        pipeline = get_pipeline(session, pipeline_id=data.pipeline_id)
    if pipeline.is_archived:
        raise Invalid(N_("This pipeline is archived."), field="pipeline_id")
    if data.stage_id is None:
        stage = _closing_stage(session, pipeline.id, StageKind.OPEN)
    else:
        stage = _stage_of(session, pipeline.id, data.stage_id)
        if stage.kind != StageKind.OPEN:
            raise Invalid(N_("A new deal starts in an open stage."), field="stage_id")
    _check_links(session, data.model_dump())
    _check_amount(data.amount, data.currency)
    now = utcnow()
    deal = Deal.model_validate(
        data.model_dump(exclude={"pipeline_id", "stage_id", "contacts"}),
        update={
            "pipeline_id": pipeline.id,
            "stage_id": stage.id,
            "owner_id": data.owner_id if data.owner_id is not None else actor_id,
            "stage_since": now,
        },
    )
    session.add(deal)
    session.flush()
    session.add(DealStageChange(deal_id=deal.id, to_stage_id=stage.id, at=now, by_id=actor_id))
    _set_contacts(session, deal, data.contacts or [])
    return audit.save(session, deal, actor_id=actor_id, action="deal.create")


def update_deal(session: Session, *, deal: Deal, data: DealUpdate, actor_id: int | None) -> Deal:
    changes = data.model_dump(exclude_unset=True)
    check_version(deal, changes.pop("version", None))
    contacts = changes.pop("contacts", None)
    for required in ("title", "amount", "currency"):
        if required in changes and changes[required] is None:
            raise Invalid(N_("This field is required."), field=required)
    _check_links(session, changes)
    _check_amount(changes.get("amount", deal.amount), changes.get("currency", deal.currency))
    if contacts is not None:
        _set_contacts(session, deal, data.contacts or [])
        changes_named = [*changes, "contacts"]
    else:
        changes_named = list(changes)
    deal.sqlmodel_update({**changes, "updated_at": utcnow()})
    return audit.save(session, deal, actor_id=actor_id, action="deal.update", fields=changes_named)


def add_contact(
    session: Session, *, deal: Deal, contact_id: int | None, role: str | None, actor_id: int | None
) -> Deal:
    """Add a contact to the deal, or change its role there."""
    if contact_id is None or session.get(Contact, contact_id) is None:
        raise Invalid(N_("Choose one of the offered values."), field="contact_id")
    link = session.get(DealContact, (deal.id, contact_id))
    if link is None:
        link = DealContact(deal_id=deal.id, contact_id=contact_id)
    link.role = role
    session.add(link)
    deal.updated_at = utcnow()
    return audit.save(session, deal, actor_id=actor_id, action="deal.update", fields=["contacts"])


def remove_contact(session: Session, *, deal: Deal, contact_id: int, actor_id: int | None) -> Deal:
    link = session.get(DealContact, (deal.id, contact_id))
    if link is not None:
        session.delete(link)
    deal.updated_at = utcnow()
    return audit.save(session, deal, actor_id=actor_id, action="deal.update", fields=["contacts"])


def delete_deal(session: Session, *, deal: Deal, actor_id: int | None) -> None:
    audit.delete(session, deal, actor_id=actor_id, action="deal.delete")


def _when(deal: Deal, at: datetime | None) -> datetime:
    at = at or utcnow()
    if at < deal.stage_since:
        raise Invalid(
            N_("The change cannot lie before the last one (%(since)s)."),
            field="at",
            since=deal.stage_since.isoformat(timespec="minutes"),
        )
    return at


def _change_stage(
    session: Session, deal: Deal, stage: DealStage, at: datetime, actor_id: int | None
) -> None:
    session.execute(
        update(DealStageChange)
        .where(DealStageChange.deal_id == deal.id, col(DealStageChange.until).is_(None))
        .values(until=at)
    )
    session.add(
        DealStageChange(
            deal_id=deal.id,
            from_stage_id=deal.stage_id,
            to_stage_id=stage.id,
            at=at,
            by_id=actor_id,
        )
    )
    deal.stage_id, deal.stage_since, deal.updated_at = stage.id, at, utcnow()


def _require_open(deal: Deal) -> None:
    if deal.status != DealStatus.OPEN:
        raise Conflict(N_("This deal is closed: reopen it first."))


def move_deal(
    session: Session,
    *,
    deal: Deal,
    stage_id: int,
    at: datetime | None = None,
    lost_reason: str | None = None,
    note: str | None = None,
    actor_id: int | None,
) -> Deal:
    """Move an open deal to another stage of its pipeline: a won stage wins it (and moves
    its customers on in the journey), a lost stage loses it, for a reason."""
    _require_open(deal)
    stage = _stage_of(session, deal.pipeline_id, stage_id)
    if stage.id == deal.stage_id:
        raise Invalid(N_("The deal is in this stage already."), field="stage_id")
    reason = None
    if stage.kind == StageKind.LOST:
        if not lost_reason:
            raise Invalid(N_("Give the reason the deal was lost."), field="lost_reason")
        reason = lists.by_key(session, LostReason, lost_reason, field="lost_reason")
    at = _when(deal, at)
    _change_stage(session, deal, stage, at, actor_id)
    if stage.kind == StageKind.OPEN:
        return audit.save(session, deal, actor_id=actor_id, action="deal.move", fields=["stage_id"])
    deal.status, deal.closed_at = DealStatus(stage.kind), at
    if reason is not None:
        deal.lost_reason_id, deal.lost_note = reason.id, note
    audit.save(session, deal, actor_id=actor_id, action=f"deal.{stage.kind}", fields=["status"])
    if stage.kind == StageKind.WON:
        _advance_journey(session, deal, at, actor_id)
    return deal


def win_deal(
    session: Session, *, deal: Deal, at: datetime | None = None, actor_id: int | None
) -> Deal:
    """Close the deal as won, in its pipeline's won stage."""
    stage = _closing_stage(session, deal.pipeline_id, StageKind.WON)
    return move_deal(session, deal=deal, stage_id=stage.id, at=at, actor_id=actor_id)


def lose_deal(
    session: Session,
    *,
    deal: Deal,
    reason: str | None,
    note: str | None = None,
    at: datetime | None = None,
    actor_id: int | None,
) -> Deal:
    """Close the deal as lost, in its pipeline's lost stage."""
    stage = _closing_stage(session, deal.pipeline_id, StageKind.LOST)
    return move_deal(
        session,
        deal=deal,
        stage_id=stage.id,
        at=at,
        lost_reason=reason,
        note=note,
        actor_id=actor_id,
    )


def reopen_deal(
    session: Session, *, deal: Deal, stage_id: int | None = None, actor_id: int | None
) -> Deal:
    """A lost deal comes back, to ``stage_id`` or the open stage it was lost from."""
    if deal.status != DealStatus.LOST:
        raise Conflict(N_("Only a lost deal can be reopened."))
    if stage_id is None:
        stage_id = session.exec(
            select(DealStageChange.from_stage_id)
            .where(DealStageChange.deal_id == deal.id, DealStageChange.to_stage_id == deal.stage_id)
            .order_by(col(DealStageChange.at).desc(), col(DealStageChange.id).desc())
        ).first()
    stage = (
        _stage_of(session, deal.pipeline_id, stage_id)
        if stage_id is not None
        else _closing_stage(session, deal.pipeline_id, StageKind.OPEN)
    )
    if stage.kind != StageKind.OPEN:
        raise Invalid(N_("Choose an open stage."), field="stage_id")
    _change_stage(session, deal, stage, _when(deal, None), actor_id)
    deal.status, deal.closed_at = DealStatus.OPEN, None
    deal.lost_reason_id = deal.lost_note = None
    return audit.save(session, deal, actor_id=actor_id, action="deal.reopen", fields=["status"])


def stage_history(session: Session, *, deal: Deal) -> list[DealStageChange]:
    query = (
        select(DealStageChange)
        .where(DealStageChange.deal_id == deal.id)
        .order_by(DealStageChange.at, DealStageChange.id)
    )
    return list(session.exec(query))


def stage_names(session: Session) -> dict[int, str]:
    """Every stage's name by id, for lists that show deals of several pipelines."""
    return dict(session.exec(select(DealStage.id, DealStage.name)).all())


@dataclass
class StageStay:
    stage_id: int
    at: datetime
    until: datetime | None
    days: float


def time_in_stages(session: Session, *, deal: Deal, now: datetime | None = None) -> list[StageStay]:
    """The deal's stays in its stages, in order, with their length in days (up to now
    for the current one)."""
    now = now or utcnow()
    return [
        StageStay(c.to_stage_id, c.at, c.until, ((c.until or now) - c.at).total_seconds() / 86_400)
        for c in stage_history(session, deal=deal)
    ]


def list_deals(
    session: Session,
    *,
    pipeline_id: int | None = None,
    stage_id: int | None = None,
    status: DealStatus | None = None,
    owner_id: int | None = None,
    company_id: int | None = None,
    contact_id: int | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Deal], str | None]:
    """Deals, newest first, one keyset page at a time."""
    query = select(Deal)
    for column, value in (
        (Deal.pipeline_id, pipeline_id),
        (Deal.stage_id, stage_id),
        (Deal.status, status),
        (Deal.owner_id, owner_id),
        (Deal.company_id, company_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if contact_id is not None:
        query = query.where(with_contact(contact_id))
    if q:
        query = query.where(func.lower(Deal.title).contains(q.lower(), autoescape=True))
    return keyset_page(session, query, [col(Deal.id)], descending=True, cursor=cursor, limit=limit)


# --- a won deal moves its customers on ------------------------------------------------------


def _advance_journey(session: Session, deal: Deal, at: datetime, actor_id: int | None) -> None:
    """The company's and the deal contacts' enrollments in the pipeline's journey go to its
    first post-purchase phase (enrolled there if they are not in it), unless they are
    there already or further on."""
    pipeline = session.get(Pipeline, deal.pipeline_id)
    if pipeline is None or pipeline.journey_id is None or not pipeline.move_on_won:
        return
    journey = session.get(Journey, pipeline.journey_id)
    phases = journey_service.phases_of(session, journey) if journey else []
    target = next((p for p in phases if p.kind == PhaseKind.POST_PURCHASE), None)
    if journey is None or journey.is_archived or target is None:
        return
    position = {p.id: p.position for p in phases}
    subjects = [{"company_id": deal.company_id}] if deal.company_id else []
    subjects += [
        {"contact_id": link.contact_id}
        for link in session.exec(select(DealContact).where(DealContact.deal_id == deal.id))
    ]
    request = MoveRequest(phase_id=target.id, at=at, reason=DEAL_WON, cause=Cause.DEAL_WON)
    for subject in subjects:
        ((key, subject_id),) = subject.items()
        enrollment = session.exec(
            select(Enrollment).where(
                Enrollment.journey_id == journey.id, getattr(Enrollment, key) == subject_id
            )
        ).first()
        if enrollment is None:
            data = EnrollmentCreate(
                journey_id=journey.id, phase_id=target.id, at=at, cause=Cause.DEAL_WON, **subject
            )
            journey_service.enroll(session, data=data, actor_id=actor_id)
            continue
        further = position.get(enrollment.phase_id, -1) >= target.position
        if enrollment.status == EnrollmentStatus.ACTIVE and further:
            continue
        # A win recorded late must not land before the journey's own last step.
        latest = enrollment.ended_at or enrollment.phase_since
        move = request if at >= latest else request.model_copy(update={"at": latest})
        journey_service.move(session, enrollment=enrollment, data=move, actor_id=actor_id)
