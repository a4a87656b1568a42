"""Path parameters that load their row or answer 404."""

from typing import Annotated

from fastapi import Depends

from crm.core.db import SessionDep
from crm.deals import service as deal_service
from crm.deals.models import Deal, DealStage, Pipeline


def valid_pipeline_id(pipeline_id: int, session: SessionDep) -> Pipeline:
    return deal_service.get_pipeline(session, pipeline_id=pipeline_id)


def valid_stage_id(stage_id: int, session: SessionDep) -> DealStage:
    return deal_service.get_stage(session, stage_id=stage_id)


def valid_deal_id(deal_id: int, session: SessionDep) -> Deal:
    return deal_service.get_deal(session, deal_id=deal_id)


PipelineDep = Annotated[Pipeline, Depends(valid_pipeline_id)]
StageDep = Annotated[DealStage, Depends(valid_stage_id)]
DealDep = Annotated[Deal, Depends(valid_deal_id)]
