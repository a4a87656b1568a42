"""Path parameters that load their row or answer 404."""

from typing import Annotated

from fastapi import Depends

from crm.core.db import SessionDep
from crm.touchpoints import service as touchpoint_service
from crm.touchpoints.models import Touchpoint


def valid_touchpoint_id(touchpoint_id: int, session: SessionDep) -> Touchpoint:
    return touchpoint_service.get_touchpoint(session, touchpoint_id=touchpoint_id)


TouchpointDep = Annotated[Touchpoint, Depends(valid_touchpoint_id)]
