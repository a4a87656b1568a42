"""Deal figures against data computed by hand."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, func
from sqlmodel import select

from crm.core import tallies
from crm.core.db import job_session
from crm.deals import figures, service
from crm.deals.jobs import settle_forecast
from crm.deals.models import (
    Deal,
    DealCreate,
    DealStage,
    DealStatus,
    DealUpdate,
    ForecastChange,
    StageUpdate,
)
from tests.factories import make_company, make_contact

NOW = datetime.now(UTC).replace(microsecond=0)


def deal(session, **fields):
    return service.create_deal(
        session, data=DealCreate(**{"title": "Deal", **fields}), actor_id=None
    )


def won(session, amount, currency="EUR", *, days=0, **fields):
    """A deal won ``days`` after it was created, yesterday."""
    created = deal(session, amount=amount, currency=currency, **fields)
    created.created_at = created.stage_since = NOW - timedelta(days=days + 1)
    service.win_deal(session, deal=created, at=NOW - timedelta(days=1), actor_id=None)
    return created


def test_forecast_weights_by_probability_per_month_and_currency(session, stages):
    deal(session, amount="1000", expected_close_date="2027-01-15")  # qualified: 10 %
    deal(
        session,
        amount="500",
        expected_close_date="2027-01-20",
        stage_id=stages["proposal"].id,
        probability=80,  # its own instead of the stage's 50 %
    )
    deal(
        session,
        amount="300",
        currency="USD",
        expected_close_date="2027-02-01",
        stage_id=stages["negotiation"].id,
    )
    deal(session, amount="200")  # no expected close
    won(session, "9999", expected_close_date="2027-01-10")  # closed: not forecast
    assert [
        (m.month, m.currency, m.deals, m.amount, m.weighted) for m in figures.forecast(session)
    ] == [
        ("2027-01", "EUR", 2, Decimal("1500.00"), Decimal("500.00")),  # 100 + 400
        ("2027-02", "USD", 1, Decimal("300.00"), Decimal("225.00")),
        (None, "EUR", 1, Decimal("200.00"), Decimal("20.00")),
    ]


def test_win_rate_size_time_to_close_and_lost_reasons(session):
    for amount, days in (("100", 4), ("200", 10), ("300", 30)):
        won(session, amount, days=days)
    lost = deal(session, amount="50")
    service.lose_deal(session, deal=lost, reason="price", actor_id=None)
    deal(session, amount="70")  # still open
    result = figures.performance(
        session, since=NOW - timedelta(days=7), until=NOW + timedelta(days=1)
    )
    assert (result.closed, result.won, result.win_rate) == (4, 3, 0.75)
    assert result.average_won == {"EUR": Decimal("200.00")}
    assert result.time_to_close_median_days == pytest.approx(10, abs=0.01)
    assert result.lost_reasons == {"price": 1}


def test_lifetime_value_per_company_and_contact(session):
    company, anna = make_company(session), make_contact(session)
    won(session, "100.10", company_id=company.id, contacts=[{"contact_id": anna.id}])
    won(session, "50", company_id=company.id)
    won(session, "20", "USD", contacts=[{"contact_id": anna.id}])
    deal(session, amount="1000", company_id=company.id)  # open: not yet value
    assert figures.lifetime_value(session, company_id=company.id) == {"EUR": Decimal("150.10")}
    assert figures.lifetime_value(session, contact_id=anna.id) == {
        "EUR": Decimal("100.10"),
        "USD": Decimal("20.00"),
    }


def test_abc_classes(session):
    companies = [make_company(session) for _ in range(5)]
    # total 990: 500 (0 % before) A, 300 (50.5 %) A as it crosses 80 %, 100 (80.8 %) B,
    # 50 (90.9 %) B, 40 (96 %) C
    for company, amount in zip(companies, ("500", "300", "100", "50", "40"), strict=True):
        won(session, amount, company_id=company.id)
    won(session, "1000", "USD", company_id=companies[4].id)  # another currency: not counted
    classes = figures.abc_classes(session)
    assert [classes[c.id] for c in companies] == ["A", "A", "B", "B", "C"]
    assert figures.abc_class(session, company_id=make_company(session).id) is None


def test_equal_values_share_the_higher_class(session):
    companies = [make_company(session) for _ in range(4)]
    # total 1000: 800 A; 100 B (80 % before); 50 (90 %) B; 50 (95 %) would be C, ties with B
    for company, amount in zip(companies, ("800", "100", "50", "50"), strict=True):
        won(session, amount, company_id=company.id)
    classes = figures.abc_classes(session)
    assert [classes[c.id] for c in companies] == ["A", "B", "B", "B"]


def test_a_class_is_a_filter_of_the_company_list(session):
    from crm.contacts import service as contact_service

    companies = [make_company(session, name=f"Class {n}") for n in range(5)]
    for company, amount in zip(companies, ("500", "300", "100", "50", "40"), strict=True):
        won(session, amount, company_id=company.id)
    for grade, expected in (("A", companies[:2]), ("B", companies[2:4]), ("C", companies[4:])):
        found, _ = contact_service.list_companies(session, abc=grade, q="Class")
        assert {c.id for c in found} == {c.id for c in expected}, grade


def counted(session) -> list[tuple]:
    """The forecast summed over the open deals as they are now, for comparison."""
    months: dict[tuple, list] = {}
    query = select(Deal, DealStage).join(DealStage).where(Deal.status == DealStatus.OPEN)
    for d, stage in session.exec(query):
        probability = d.probability if d.probability is not None else stage.probability
        month = d.expected_close_date.strftime("%Y-%m") if d.expected_close_date else None
        into = months.setdefault((month, d.currency), [0, Decimal(0), Decimal(0)])
        into[0] += 1
        into[1] += d.amount
        into[2] += d.amount * probability / 100
    return sorted(
        ((m, c, n, a, w) for (m, c), (n, a, w) in months.items()),
        key=lambda row: (row[0] is None, row[:2]),
    )


def kept(session) -> list[tuple]:
    session.flush()
    return [(m.month, m.currency, m.deals, m.amount, m.weighted) for m in figures.forecast(session)]


def test_the_kept_forecast_follows_every_change_and_survives_settling(session, stages):
    first = deal(session, amount="1000", expected_close_date="2027-01-15")
    second = deal(session, amount="500", currency="USD", stage_id=stages["proposal"].id)
    third = deal(session, amount="300", expected_close_date="2027-03-01", probability=70)
    assert kept(session) == counted(session) != []
    service.update_deal(
        session,
        deal=first,
        data=DealUpdate(amount="1200", expected_close_date="2027-02-01", probability=40),
        actor_id=None,
    )
    service.move_deal(session, deal=second, stage_id=stages["negotiation"].id, actor_id=None)
    service.lose_deal(session, deal=third, reason="price", actor_id=None)
    assert kept(session) == counted(session)
    # A stage's probability weighs its deals without one of their own.
    service.update_stage(
        session, stage=stages["negotiation"], data=StageUpdate(probability=90), actor_id=None
    )
    session.expire_all()
    assert kept(session) == counted(session)
    service.reopen_deal(session, deal=third, actor_id=None)
    service.win_deal(session, deal=first, actor_id=None)
    service.delete_deal(session, deal=second, actor_id=None)
    assert kept(session) == counted(session)
    assert tallies.settle(session, figures.FORECAST) > 0
    assert session.exec(select(func.count()).select_from(ForecastChange)).one() == 0
    assert kept(session) == counted(session)
    assert tallies.settle(session, figures.FORECAST) == 0


def test_the_job_settles_the_forecast_in_its_own_transaction(engine):
    with job_session(engine) as session:
        made = deal(session, amount="10", expected_close_date="2031-05-05").id
    assert settle_forecast(engine) >= 1
    with job_session(engine) as session:
        assert session.exec(select(func.count()).select_from(ForecastChange)).one() == 0
        assert kept(session) == counted(session)
        session.execute(delete(Deal).where(Deal.id == made))
    assert settle_forecast(engine) == 1
    with job_session(engine) as session:
        assert kept(session) == counted(session)
