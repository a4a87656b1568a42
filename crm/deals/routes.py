"""Deals: the JSON API for pipelines, stages and deals."""

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from crm.contacts.deps import CompanyDep, ContactDep, Editor
from crm.core.db import SessionDep
from crm.core.i18n import SiteLanguage
from crm.core.periods import ApiPeriod
from crm.deals import figures
from crm.deals import service as deal_service
from crm.deals.deps import DealDep, PipelineDep, StageDep
from crm.deals.models import (
    DEFAULT_CURRENCY,
    Deal,
    DealClose,
    DealContactPublic,
    DealCreate,
    DealLose,
    DealMove,
    DealPublic,
    DealsPage,
    DealStage,
    DealStatus,
    DealUpdate,
    LostReason,
    Pipeline,
    PipelineCreate,
    PipelinePublic,
    PipelineUpdate,
    StageCreate,
    StageOrder,
    StagePublic,
    StageUpdate,
    in_currency,
)
from crm.users.deps import AdminUser, CurrentUser, Idempotent

api_router = APIRouter(prefix="/api/v1", tags=["deals"])


def pipeline_public(session: SessionDep, pipeline: Pipeline) -> PipelinePublic:
    stages = deal_service.stages_of(session, pipeline, archived=True)
    return PipelinePublic.model_validate(
        pipeline, update={"stages": [StagePublic.model_validate(s) for s in stages]}
    )


def deals_public(session: SessionDep, deals: list[Deal]) -> list[DealPublic]:
    """The deals as the API shows them, with their companies and contacts read in one
    query each for all of them."""
    company_ids = {d.company_id for d in deals if d.company_id}
    companies = deal_service.company_names(session, company_ids)
    contacts = deal_service.contacts_of_deals(session, [d.id for d in deals])
    public = []
    for deal in deals:
        stage = session.get(DealStage, deal.stage_id)  # few: from the identity map
        reason = session.get(LostReason, deal.lost_reason_id) if deal.lost_reason_id else None
        own = deal.probability
        public.append(
            DealPublic.model_validate(
                deal,
                update={
                    "amount": in_currency(deal.amount, deal.currency),
                    "company_name": companies.get(deal.company_id),
                    "probability": own if own is not None else stage.probability,
                    "probability_is_default": own is None,
                    "lost_reason": reason.key if reason else None,
                    "contacts": [
                        DealContactPublic(contact_id=contact.id, name=contact.name, role=link.role)
                        for link, contact in contacts.get(deal.id, [])
                    ],
                },
            )
        )
    return public


def deal_public(session: SessionDep, deal: Deal) -> DealPublic:
    return deals_public(session, [deal])[0]


@api_router.get("/pipelines", response_model=list[PipelinePublic])
def api_pipelines(
    session: SessionDep, user: CurrentUser, archived: bool = False
) -> list[PipelinePublic]:
    return [
        pipeline_public(session, p) for p in deal_service.list_pipelines(session, archived=archived)
    ]


@api_router.post("/pipelines", response_model=PipelinePublic, status_code=201)
def api_create_pipeline(
    session: SessionDep, user: AdminUser, data: PipelineCreate, language: SiteLanguage
) -> PipelinePublic:
    """A pipeline with the ``stages`` given, else the default ones, named in the
    installation's language (CRM_DEFAULT_LANGUAGE)."""
    pipeline = deal_service.create_pipeline(session, data=data, actor_id=user.id, language=language)
    return pipeline_public(session, pipeline)


@api_router.get("/pipelines/{pipeline_id}", response_model=PipelinePublic)
def api_pipeline(session: SessionDep, pipeline: PipelineDep, user: CurrentUser) -> PipelinePublic:
    return pipeline_public(session, pipeline)


@api_router.patch("/pipelines/{pipeline_id}", response_model=PipelinePublic)
def api_update_pipeline(
    session: SessionDep, pipeline: PipelineDep, user: AdminUser, data: PipelineUpdate
) -> PipelinePublic:
    pipeline = deal_service.update_pipeline(session, pipeline=pipeline, data=data, actor_id=user.id)
    return pipeline_public(session, pipeline)


@api_router.delete("/pipelines/{pipeline_id}", status_code=204)
def api_delete_pipeline(session: SessionDep, pipeline: PipelineDep, user: AdminUser) -> Response:
    deal_service.delete_pipeline(session, pipeline=pipeline, actor_id=user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@api_router.post("/pipelines/{pipeline_id}/stages", response_model=StagePublic, status_code=201)
def api_add_stage(
    session: SessionDep, pipeline: PipelineDep, user: AdminUser, data: StageCreate
) -> StagePublic:
    stage = deal_service.add_stage(session, pipeline=pipeline, data=data, actor_id=user.id)
    return StagePublic.model_validate(stage)


@api_router.put("/pipelines/{pipeline_id}/stages/order", response_model=list[StagePublic])
def api_reorder_stages(
    session: SessionDep, pipeline: PipelineDep, user: AdminUser, data: StageOrder
) -> list[StagePublic]:
    stages = deal_service.reorder_stages(
        session, pipeline=pipeline, stage_ids=data.stage_ids, actor_id=user.id
    )
    return [StagePublic.model_validate(s) for s in stages]


@api_router.patch("/stages/{stage_id}", response_model=StagePublic)
def api_update_stage(
    session: SessionDep, stage: StageDep, user: AdminUser, data: StageUpdate
) -> StagePublic:
    stage = deal_service.update_stage(session, stage=stage, data=data, actor_id=user.id)
    return StagePublic.model_validate(stage)


@api_router.get("/deals", response_model=DealsPage)
def api_deals(
    session: SessionDep,
    user: CurrentUser,
    pipeline_id: int | None = None,
    stage_id: int | None = None,
    status: DealStatus | None = None,
    owner_id: int | None = None,
    company_id: int | None = None,
    contact_id: int | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DealsPage:
    deals, next_cursor = deal_service.list_deals(
        session,
        pipeline_id=pipeline_id,
        stage_id=stage_id,
        status=status,
        owner_id=owner_id,
        company_id=company_id,
        contact_id=contact_id,
        q=q,
        cursor=cursor,
        limit=limit,
    )
    return DealsPage(items=deals_public(session, deals), next_cursor=next_cursor)


@api_router.get("/deals/forecast", response_model=list[figures.ForecastMonth])
def api_forecast(
    session: SessionDep, user: CurrentUser, pipeline_id: int | None = None
) -> list[figures.ForecastMonth]:
    """The open deals per month of expected close and currency, weighted by probability."""
    return figures.forecast(session, pipeline_id=pipeline_id)


@api_router.get("/deals/performance", response_model=figures.Performance)
def api_performance(
    session: SessionDep, user: CurrentUser, period: ApiPeriod, pipeline_id: int | None = None
) -> figures.Performance:
    """Win rate, average deal size, time to close and lost reasons of the period."""
    return figures.performance(
        session, since=period.since, until=period.until, pipeline_id=pipeline_id
    )


@api_router.get("/deals/abc", response_model=dict[int, str])
def api_abc(
    session: SessionDep, user: CurrentUser, currency: str = DEFAULT_CURRENCY
) -> dict[int, str]:
    """Each company with won deals in ``currency``: its ABC class by lifetime value."""
    return figures.abc_classes(session, currency=currency.upper())


@api_router.get("/companies/{company_id}/lifetime-value", response_model=dict[str, Decimal])
def api_company_value(
    session: SessionDep, company: CompanyDep, user: CurrentUser
) -> dict[str, Decimal]:
    return figures.lifetime_value(session, company_id=company.id)


@api_router.get("/contacts/{contact_id}/lifetime-value", response_model=dict[str, Decimal])
def api_contact_value(
    session: SessionDep, contact: ContactDep, user: CurrentUser
) -> dict[str, Decimal]:
    return figures.lifetime_value(session, contact_id=contact.id)


@api_router.post("/deals", response_model=DealPublic, status_code=201)
def api_create_deal(
    session: SessionDep, user: Editor, data: DealCreate, once: Idempotent
) -> DealPublic:
    deal = once(data, Deal, lambda: deal_service.create_deal(session, data=data, actor_id=user.id))
    return deal_public(session, deal)


@api_router.get("/deals/{deal_id}", response_model=DealPublic)
def api_deal(session: SessionDep, deal: DealDep, user: CurrentUser) -> DealPublic:
    return deal_public(session, deal)


@api_router.patch("/deals/{deal_id}", response_model=DealPublic)
def api_update_deal(
    session: SessionDep, deal: DealDep, user: Editor, data: DealUpdate
) -> DealPublic:
    deal = deal_service.update_deal(session, deal=deal, data=data, actor_id=user.id)
    return deal_public(session, deal)


@api_router.delete("/deals/{deal_id}", status_code=204)
def api_delete_deal(session: SessionDep, deal: DealDep, user: Editor) -> Response:
    deal_service.delete_deal(session, deal=deal, actor_id=user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@api_router.post("/deals/{deal_id}/move", response_model=DealPublic)
def api_move_deal(session: SessionDep, deal: DealDep, user: Editor, data: DealMove) -> DealPublic:
    deal = deal_service.move_deal(
        session,
        deal=deal,
        stage_id=data.stage_id,
        at=data.at,
        lost_reason=data.lost_reason,
        note=data.note,
        actor_id=user.id,
    )
    return deal_public(session, deal)


@api_router.post("/deals/{deal_id}/won", response_model=DealPublic)
def api_win_deal(
    session: SessionDep, deal: DealDep, user: Editor, data: DealClose | None = None
) -> DealPublic:
    at = data.at if data else None
    return deal_public(session, deal_service.win_deal(session, deal=deal, at=at, actor_id=user.id))


@api_router.post("/deals/{deal_id}/lost", response_model=DealPublic)
def api_lose_deal(session: SessionDep, deal: DealDep, user: Editor, data: DealLose) -> DealPublic:
    deal = deal_service.lose_deal(
        session, deal=deal, reason=data.lost_reason, note=data.note, at=data.at, actor_id=user.id
    )
    return deal_public(session, deal)


@api_router.post("/deals/{deal_id}/reopen", response_model=DealPublic)
def api_reopen_deal(
    session: SessionDep, deal: DealDep, user: Editor, stage_id: int | None = None
) -> DealPublic:
    deal = deal_service.reopen_deal(session, deal=deal, stage_id=stage_id, actor_id=user.id)
    return deal_public(session, deal)
