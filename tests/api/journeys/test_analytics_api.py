"""Journey analytics and the journey map through the API and their pages; the board's API."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from crm.journeys import service as journey_service
from crm.journeys.models import EnrollmentCreate, JourneyCreate, MoveRequest
from crm.users.models import Role
from tests.conftest import login
from tests.factories import log_touchpoint, make_contact, make_token, make_user


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
    month = datetime.now(UTC) - timedelta(days=30)
    assert f"{month:%Y-%m}: 3, 0;" in page.text  # the cohort chart's description
    # axes with their titles, and each bar's figures in a <title>: shown on hover
    assert "Subjects who entered" in page.text and "Month of joining" in page.text
    assert f"<title>{month:%Y-%m}: Joined 3, Reached a purchase phase 0</title>" in page.text
    assert "<title>Awareness: Entered 3, Moved on " in page.text
    assert client.get(f"/journeys/{journey.id}/analytics?from=nonsense").status_code == 422
    download = client.get(f"/journeys/{journey.id}/analytics.csv")
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.text.lstrip("\ufeff"))))
    assert rows[0] == ["figure", "phase_or_month", "measure", "value"]
    assert ["funnel", "Awareness", "entered", "3"] in rows
    assert ["funnel", "Awareness", "moved_on", "2"] in rows
    assert ["journey", "", "joined", "3"] in rows


def test_api_answers_the_journey_map(client, session, journey):
    (b2b,) = [e for e in journey_service.enrollments_of(session) if e.segment == "B2B"]
    log_touchpoint(
        session,
        contact_id=b2b.contact_id,
        channel="survey",
        sentiment=-1,
        nps=4,
        occurred_at=datetime.now(UTC) - timedelta(days=25),
    )
    headers = {"Authorization": f"Bearer {make_token(session, make_user(session))}"}
    url = f"/api/v1/journeys/{journey.id}/map"
    body = client.get(url, headers=headers).json()
    assert body["rows"] == [
        "behaviour",
        "questions",
        "typical_touchpoints",
        "emotions",
        "pain_points",
    ]
    awareness, consideration = body["columns"][:2]
    assert awareness["phase"]["key"] == "awareness" and awareness["phase"]["behaviour"]
    assert (awareness["touchpoints"], awareness["by_channel"]) == (1, {"survey": 1})
    assert (awareness["sentiment"], awareness["nps"], awareness["gap"]) == (-1.0, -100.0, False)
    assert consideration["gap"] is True and consideration["median_days"] is None
    assert awareness["median_days"] == 10 and awareness["moved_on_share"] == pytest.approx(2 / 3)
    # the touchpoint was the B2B contact's: the Retail map has none
    retail = client.get(url, params={"segment": "Retail"}, headers=headers).json()
    assert retail["columns"][0]["touchpoints"] == 0 and retail["columns"][0]["entered"] == 2
    assert client.get(url, params={"to": "soon"}, headers=headers).status_code == 422
    assert client.get(url).status_code == 401


def test_map_page_shows_the_rows_the_curve_and_the_gaps(client, session, journey):
    retail = [e for e in journey_service.enrollments_of(session) if e.segment == "Retail"]
    log_touchpoint(
        session, contact_id=retail[0].contact_id, occurred_at=datetime.now(UTC) - timedelta(days=1)
    )
    login(client, make_user(session, roles=(Role.SALES_REP,)).email)
    page = client.get(f"/journeys/{journey.id}/map?segment=Retail")
    assert page.status_code == 200 and "<html" in page.text
    assert "Emotion curve" in page.text and '<svg class="chart"' in page.text
    assert "Average sentiment</text>" in page.text  # the value axis is named
    assert "Typical questions" in page.text and "Pain points" in page.text
    # the one touchpoint fell into consideration: every other phase is a gap
    assert page.text.count(">Gap</span>") == 4
    assert 'value="Retail"' in page.text
    assert client.get(f"/journeys/{journey.id}/map?from=nonsense").status_code == 422
    board = client.get(f"/journeys/{journey.id}")
    assert f'href="/journeys/{journey.id}/map"' in board.text
    download = client.get(f"/journeys/{journey.id}/map.csv?segment=Retail")
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.text.lstrip("\ufeff"))))
    assert rows[0] == ["phase", "row", "value"]
    assert ["Consideration", "touchpoints", "1"] in rows
    assert ["Consideration", "channel:call", "1"] in rows
    assert ["Awareness", "gap", "True"] in rows
    assert any(row[:2] == ["Awareness", "questions"] and row[2] for row in rows)


def test_api_answers_the_board_and_its_further_cards(client, session, journey):
    headers = {"Authorization": f"Bearer {make_token(session, make_user(session))}"}
    url = f"/api/v1/journeys/{journey.id}/board"
    columns = client.get(url, headers=headers).json()
    assert [c["count"] for c in columns] == [1, 2, 0, 0, 0]
    card = columns[1]["cards"][0]
    assert card["name"].startswith("Person") and card["days"] == pytest.approx(20, abs=0.01)
    assert card["stale"] is False and columns[1]["next_cursor"] is None
    retail = client.get(url, params={"segment": "Retail"}, headers=headers).json()
    assert [c["count"] for c in retail] == [0, 2, 0, 0, 0]
    phase_id = columns[1]["phase_id"]
    more = client.get(
        f"/api/v1/journeys/{journey.id}/phases/{phase_id}/cards", headers=headers
    ).json()
    assert [c["enrollment_id"] for c in more["cards"]] == [
        c["enrollment_id"] for c in columns[1]["cards"]
    ]
    other = journey_service.create_journey(session, data=JourneyCreate(name="Other"), actor_id=None)
    session.commit()
    wrong = client.get(f"/api/v1/journeys/{other.id}/phases/{phase_id}/cards", headers=headers)
    assert wrong.status_code == 404
