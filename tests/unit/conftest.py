import pytest

from crm.journeys import service
from crm.journeys.models import JourneyCreate


@pytest.fixture
def journey(session):
    """A journey from the Classic template."""
    return service.create_journey(
        session, data=JourneyCreate(name="Test journey", template="classic"), actor_id=None
    )
