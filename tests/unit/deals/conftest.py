import pytest

from crm.deals import service


@pytest.fixture
def pipeline(session):
    """The seeded default pipeline."""
    return service.list_pipelines(session)[0]


@pytest.fixture
def stages(session, pipeline):
    """Its stages by key."""
    return {s.key: s for s in service.stages_of(session, pipeline)}
