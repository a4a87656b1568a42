"""Journey figures against a small history computed by hand (see the comments)."""

import pytest

from crm.contacts import service as contact_service
from crm.contacts.models import CompanyUpdate, ContactUpdate
from crm.journeys import analytics, service
from crm.journeys.models import JourneyCreate, PhaseUpdate
from crm.touchpoints import service as touchpoint_service
from crm.touchpoints.models import TouchpointCreate
from tests.factories import make_company, make_contact
from tests.unit.journeys.history import day, live


def answer(session, contact, at, nps):
    data = TouchpointCreate(
        contact_id=contact.id, summary="Survey", channel="survey", occurred_at=day(at), nps=nps
    )
    touchpoint_service.log_touchpoint(session, data=data, actor_id=None)


@pytest.fixture
def figures(session, journey):
    s1, s2, s3, s4, s5 = (make_contact(session, segment="Retail") for _ in range(5))
    live(
        session,
        journey,
        [
            (0, "awareness"),
            (10, "consideration"),
            (20, "conversion"),
            (25, "retention"),
            (60, "churned"),
        ],
        contact_id=s1.id,
    )
    live(session, journey, [(5, "awareness"), (15, "lost")], contact_id=s2.id)
    live(
        session,
        journey,
        [(35, "awareness"), (40, "consideration"), (45, "awareness"), (50, "consideration")],
        contact_id=s3.id,
    )
    live(
        session,
        journey,
        [(-50, "awareness"), (-10, "consideration"), (5, "conversion"), (8, "won")],
        contact_id=s4.id,
    )
    live(session, journey, [(150, "awareness")], contact_id=s5.id)
    # Another segment, in the period: only counted without the segment filter.
    live(session, journey, [(1, "awareness")], company_id=make_company(session, segment="B2B").id)
    answers = ((s1, 30, 10), (s1, 70, 3), (s3, 45, 8), (s2, 12, 9), (s4, 6, 2), (s5, 150, 10))
    for contact, at, nps in answers:
        answer(session, contact, at, nps)
    return analytics.figures(
        session, journey=journey, since=day(0), until=day(100), segment="Retail"
    )


def steps(figures, session, journey):
    keys = {p.id: p.key for p in service.phases_of(session, journey)}
    return {keys[s.phase_id]: s for s in figures.funnel}


def test_funnel(figures, session, journey):
    funnel = steps(figures, session, journey)
    # awareness: s1 moved on, s2 dropped, s3 (twice) moved on the last time
    a = funnel["awareness"]
    assert (a.entered, a.moved_on, a.dropped, a.still_there) == (3, 2, 1, 0)
    # consideration: s1 moved on; s3 went back, then came again and is still there
    c = funnel["consideration"]
    assert (c.entered, c.moved_on, c.went_back, c.still_there) == (2, 1, 0, 1)
    # conversion: s1 moved on to retention, s4 left as won
    v = funnel["conversion"]
    assert (v.entered, v.moved_on, v.completed, v.conversion) == (2, 1, 1, 1.0)
    # retention: s1 churned
    r = funnel["retention"]
    assert (r.entered, r.dropped, r.drop_off) == (1, 1, 1.0)
    assert funnel["advocacy"].entered == 0


def test_conversion_time_to_close_and_churn(figures):
    # joined in the period: s1, s2, s3; only s1 reached a purchase phase, after 20 days
    assert (figures.joined, figures.converted) == (3, 1)
    assert figures.conversion_rate == pytest.approx(1 / 3)
    assert figures.time_to_close_median_days == 20
    # customers in the period: s1 (bought on day 20, churned on day 60) and s4 (bought on
    # day 5, left as won on day 8)
    assert (figures.customers, figures.churned, figures.churn_rate) == (2, 1, 0.5)


def test_nps(figures):
    # in the period and in a phase: 10 and 9 promote, 2 detracts, 8 is passive; s1's 3
    # came after the churn (in no phase), day 150 is outside the period
    assert (figures.nps_answers, figures.nps) == (4, 25.0)


def test_time_in_phase(figures, session, journey):
    keys = {p.id: p.key for p in service.phases_of(session, journey)}
    times = {keys[t.phase_id]: t for t in figures.time_in_phase}
    # awareness stays ending in the period: 10 (s1), 10 (s2), 5 and 5 (s3)
    a = times["awareness"]
    assert (a.stays, a.median_days, a.p90_days) == (4, 7.5, 10)
    assert a.bands[:3] == [2, 2, 0]
    # consideration: 10 (s1), 5 (s3), 15 (s4, from day -10); s3's second stay is open
    c = times["consideration"]
    assert (c.stays, c.median_days, c.bands[:3]) == (3, 10, [1, 1, 1])
    assert times["conversion"].median_days == 4  # 5 (s1) and 3 (s4)
    assert times["retention"].bands[3] == 1  # 35 days


def test_cohorts(figures):
    assert [
        (c.month, c.joined, c.reached_purchase, c.active, c.lost, c.churned)
        for c in figures.cohorts
    ] == [("2026-01", 2, 1, 0, 1, 1), ("2026-02", 1, 0, 1, 0, 0)]


def test_without_the_segment_the_company_counts(session, journey, figures):
    everyone = analytics.figures(session, journey=journey, since=day(0), until=day(100))
    assert everyone.joined == figures.joined + 1
    assert steps(everyone, session, journey)["awareness"].entered == 4


def test_an_empty_period_has_no_rates(session, journey):
    empty = analytics.figures(session, journey=journey, since=day(0), until=day(100))
    assert (empty.joined, empty.conversion_rate, empty.churn_rate, empty.nps) == (
        0,
        None,
        None,
        None,
    )
    assert all(step.entered == 0 for step in empty.funnel)


@pytest.mark.parametrize(
    ("lengths", "median", "p90"),
    [
        # odd count: the middle one; p90 is the 10th of 11 (index int(11 * 0.9) = 9)
        ([1, 3, 8, 10, 20, 35, 61, 62, 100, 200, 400], 35, 200),
        # even count: the mean of the middle two, which lie in different bands
        ([1, 3, 8, 10, 20, 35, 61, 62, 100, 200, 400, 450], 48, 400),
    ],
)
def test_percentiles_and_bands_across_many_stays(session, journey, lengths, median, p90):
    for length in lengths:
        contact = make_contact(session)
        live(
            session,
            journey,
            [(-500, "awareness"), (-500 + length, "consideration")],
            contact_id=contact.id,
        )
    result = analytics.figures(session, journey=journey, since=day(-600), until=day(1))
    awareness = next(t for t in result.time_in_phase if t.stays)
    assert (awareness.stays, awareness.median_days, awareness.p90_days) == (
        len(lengths),
        pytest.approx(median),
        pytest.approx(p90),
    )
    # under 7, 14, 30, 60, 90, 180 days, and longer
    assert awareness.bands == [2, 2, 1, 1, 2, 1, len(lengths) - 9]


def test_changing_a_phase_kind_changes_what_counts_as_a_purchase(session, journey, figures):
    assert (figures.converted, figures.time_to_close_median_days) == (1, 20)
    consideration = next(p for p in service.phases_of(session, journey) if p.key == "consideration")
    service.update_phase(
        session, phase=consideration, data=PhaseUpdate(kind="purchase"), actor_id=None
    )
    again = analytics.figures(
        session, journey=journey, since=day(0), until=day(100), segment="Retail"
    )
    # s1 reached consideration on day 10, s3 on day 40 after joining on day 35
    assert (again.converted, again.time_to_close_median_days) == (2, 7.5)


def test_the_segment_follows_the_subject(session, journey):
    contact = make_contact(session, segment="Retail")
    company = make_company(session, segment="Retail")
    live(session, journey, [(1, "awareness")], contact_id=contact.id)
    live(session, journey, [(2, "awareness")], company_id=company.id)

    def joined(segment):
        figures = analytics.figures(
            session, journey=journey, since=day(0), until=day(10), segment=segment
        )
        return figures.joined, steps(figures, session, journey)["awareness"].entered

    assert joined("Retail") == (2, 2)
    contact_service.update_contact(
        session, contact=contact, data=ContactUpdate(segment="B2B"), actor_id=None
    )
    contact_service.update_company(
        session, company=company, data=CompanyUpdate(segment="B2B"), actor_id=None
    )
    assert joined("Retail") == (0, 0)
    assert joined("B2B") == (2, 2)
    # a merged duplicate's enrollment takes the segment of the contact it joins
    other = service.create_journey(
        session, data=JourneyCreate(name="Other", template="classic"), actor_id=None
    )
    duplicate = make_contact(session, segment="Retail")
    moved = live(session, other, [(1, "awareness")], contact_id=duplicate.id)
    contact_service.merge_contacts(
        session, target=contact, duplicate=duplicate, take_from_duplicate=set(), actor_id=None
    )
    session.refresh(moved)
    assert (moved.contact_id, moved.segment) == (contact.id, "B2B")
