"""The journey map's data side against a small history computed by hand."""

import pytest

from crm.journeys import journey_map
from crm.touchpoints import service as touchpoint_service
from crm.touchpoints.models import TouchpointCreate
from tests.factories import make_contact
from tests.unit.journeys.history import day, live


def touch(session, contact, at, channel, initiated_by, sentiment, nps=None):
    data = TouchpointCreate(
        contact_id=contact.id,
        summary="Touch",
        channel=channel,
        initiated_by=initiated_by,
        occurred_at=day(at),
        sentiment=sentiment,
        nps=nps,
    )
    touchpoint_service.log_touchpoint(session, data=data, actor_id=None)


@pytest.fixture
def columns(session, journey):
    c1, c2 = make_contact(session), make_contact(session)
    live(session, journey, [(0, "awareness"), (10, "consideration")], contact_id=c1.id)
    live(session, journey, [(1, "awareness"), (4, "lost")], contact_id=c2.id)
    touch(session, c1, 2, "call", "company", 1)
    touch(session, c1, 5, "email", "customer", -1)
    touch(session, c2, 3, "survey", "company", -2, nps=3)
    touch(session, c1, 12, "survey", "customer", 2, nps=9)
    touch(session, c2, 6, "call", "company", 0)  # after c2 left: counts nowhere
    found = journey_map.journey_map(session, journey=journey, since=day(0), until=day(100))
    return {c.phase.key: c for c in found.columns}


def test_touchpoints_by_phase_channel_and_initiator(columns):
    a, c = columns["awareness"], columns["consideration"]
    assert a.touchpoints == 3
    assert a.by_channel == {"call": 1, "email": 1, "survey": 1}
    assert a.by_initiator == {"company": 2, "customer": 1}
    assert (c.touchpoints, c.by_channel, c.by_initiator) == (1, {"survey": 1}, {"customer": 1})


def test_emotion_curve_and_nps(columns):
    a, c = columns["awareness"], columns["consideration"]
    assert (a.sentiment, a.sentiment_answers) == (round(-2 / 3, 2), 3)
    assert (a.nps, a.nps_answers) == (-100.0, 1)
    assert (c.sentiment, c.nps, c.nps_answers) == (2.0, 100.0, 1)
    assert columns["conversion"].sentiment is None and columns["conversion"].nps is None


def test_time_in_phase_and_shares(columns):
    a, c = columns["awareness"], columns["consideration"]
    # awareness stays that ended: c1 after 10 days, c2 after 3
    assert (a.median_days, a.p90_days) == (pytest.approx(6.5), pytest.approx(10))
    assert (a.entered, a.moved_on_share, a.dropped_share) == (2, 0.5, 0.5)
    assert (c.entered, c.moved_on_share, c.dropped_share, c.median_days) == (1, 0.0, 0.0, None)


def test_gaps_are_phases_with_few_touchpoints(columns):
    # 4 touchpoints over 5 phases: under 0.4 is a gap
    assert {key for key, c in columns.items() if c.gap} == {"conversion", "retention", "advocacy"}


def test_configured_rows_come_along(columns):
    assert columns["awareness"].phase.questions
    assert columns["advocacy"].phase.kind == "post_purchase"
