"""Path parameters that load their row or answer 404."""

from typing import Annotated

from fastapi import Depends

from crm.core.db import SessionDep
from crm.journeys import service as journey_service
from crm.journeys.models import Enrollment, Journey, Phase


def valid_journey_id(journey_id: int, session: SessionDep) -> Journey:
    return journey_service.get_journey(session, journey_id=journey_id)


def valid_phase_id(phase_id: int, session: SessionDep) -> Phase:
    return journey_service.get_phase(session, phase_id=phase_id)


def valid_enrollment_id(enrollment_id: int, session: SessionDep) -> Enrollment:
    return journey_service.get_enrollment(session, enrollment_id=enrollment_id)


JourneyDep = Annotated[Journey, Depends(valid_journey_id)]
PhaseDep = Annotated[Phase, Depends(valid_phase_id)]
EnrollmentDep = Annotated[Enrollment, Depends(valid_enrollment_id)]
