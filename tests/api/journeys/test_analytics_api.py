"""Journey analytics through the API, the page and the CSV download."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from crm.journeys import service as journey_service
from crm.journeys.models import EnrollmentCreate, JourneyCreate, MoveRequest
from crm.users.models import Role
from tests.conftest import login
from tests.factories import make_contact, make_token, make_user


@pytest.fixture
def journey(session):
    journey = journey_service.create_journey(
        session, data=JourneyCreate(name="Figures", template="classic"), actor_id=None
    )
    phases = {p.key: p for p in journey_service.phases_of(session, journey)}
    start = datetime.now(UTC) - timedelta(days=30)
    for n in range(3):
        data = EnrollmentCreate(
            journey_id=journey.id,
            phase_id=phases["awareness"].id,
            contact_id=make_contact(session, segment="Retail" if n else "B2B").id,
            at=start,
        )
        enrollment = journey_service.enroll(session, data=data, actor_id=None)
        if n:  # two of the three move on after ten days
            journey_service.move(
                session,
                enrollment=enrollment,
                data=MoveRequest(
                    phase_id=phases["consideration"].id, at=start + timedelta(days=10)
                ),
                actor_id=None,
            )
    session.commit()
    return journey


def test_api_answers_the_figures(client, session, journey):
    headers = {"Authorization": f"Bearer {make_token(session, make_user(session))}"}
    url = f"/api/v1/journeys/{journey.id}/analytics"
    body = client.get(url, headers=headers).json()
    awareness = body["funnel"][0]
    assert (awareness["entered"], awareness["moved_on"], awareness["still_there"]) == (3, 2, 1)
    assert awareness["conversion"] == pytest.approx(2 / 3)
    assert body["joined"] == 3 and body["time_in_phase"][0]["median_days"] == 10
    retail = client.get(url, params={"segment": "Retail"}, headers=headers).json()
    assert retail["funnel"][0]["entered"] == 2
    long_ago = client.get(url, params={"from": "2020-01-01", "to": "2020-12-31"}, headers=headers)
    assert long_ago.json()["joined"] == 0
    backwards = client.get(url, params={"from": "2026-02-01", "to": "2026-01-01"}, headers=headers)
    assert backwards.status_code == 422
    assert client.get(url, params={"from": "yesterday"}, headers=headers).status_code == 422


def test_page_shows_charts_and_tables_and_the_csv_matches(client, session, journey):
    login(client, make_user(session, roles=(Role.ACCOUNT_MANAGER,)).email)
    page = client.get(f"/journeys/{journey.id}/analytics")
    assert page.status_code == 200
    assert '<svg class="chart"' in page.text and "Awareness: 3;" in page.text
    assert "Cohorts by month of joining" in page.text
    assert client.get(f"/journeys/{journey.id}/analytics?from=nonsense").status_code == 422
    download = client.get(f"/journeys/{journey.id}/analytics.csv")
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.text.lstrip("\ufeff"))))
    assert rows[0] == ["figure", "phase_or_month", "measure", "value"]
    assert ["funnel", "Awareness", "entered", "3"] in rows
    assert ["funnel", "Awareness", "moved_on", "2"] in rows
    assert ["journey", "", "joined", "3"] in rows
