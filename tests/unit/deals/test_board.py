"""A deal board's columns: deals and sums per stage kept as deals change (database
triggers, settled by a job), counted afresh when the board is filtered."""

from decimal import Decimal

from sqlalchemy import delete, func
from sqlmodel import select

from crm.core import tallies
from crm.core.db import job_session
from crm.deals import board, service
from crm.deals.jobs import settle_stage_totals
from crm.deals.models import Deal, DealCreate, DealUpdate, StageTotalChange
from tests.factories import make_user


def deal(session, **fields):
    return service.create_deal(session, data=DealCreate(title="Deal", **fields), actor_id=None)


def columns(session, pipeline, **filters) -> dict[str, tuple[int, dict[str, Decimal]]]:
    session.flush()
    found = board.board(session, pipeline=pipeline, filters=board.BoardFilter(**filters))
    return {c.stage.key: (c.count, c.sums) for c in found if c.count}


def test_the_kept_columns_follow_every_change_and_survive_settling(session, pipeline, stages):
    first = deal(session, amount="1000.50")
    second = deal(session, amount="500", currency="USD", stage_id=stages["proposal"].id)
    third = deal(session, amount="300")
    session.flush()
    assert tallies.check(session, board.STAGE_TOTALS) == []
    before = columns(session, pipeline)
    assert before[stages["proposal"].key][1]["USD"] == Decimal("500.00")
    service.update_deal(
        session, deal=first, data=DealUpdate(amount="1200", currency="CHF"), actor_id=None
    )
    service.move_deal(session, deal=second, stage_id=stages["negotiation"].id, actor_id=None)
    service.lose_deal(session, deal=third, reason="price", actor_id=None)
    session.flush()
    assert tallies.check(session, board.STAGE_TOTALS) == []
    service.reopen_deal(session, deal=third, actor_id=None)
    service.win_deal(session, deal=first, actor_id=None)
    service.delete_deal(session, deal=second, actor_id=None)
    session.flush()
    assert tallies.check(session, board.STAGE_TOTALS) == []
    shown = columns(session, pipeline)
    assert shown["won"] == (1, {"CHF": Decimal("1200.00")})
    assert "negotiation" not in shown
    assert tallies.settle(session, board.STAGE_TOTALS) > 0
    assert session.exec(select(func.count()).select_from(StageTotalChange)).one() == 0
    assert columns(session, pipeline) == shown
    assert tallies.settle(session, board.STAGE_TOTALS) == 0


def test_a_filtered_board_counts_its_deals(session, pipeline, stages):
    rep = make_user(session)
    deal(session, amount="10", owner_id=rep.id)
    deal(session, amount="20")
    whole, filtered = columns(session, pipeline), columns(session, pipeline, owner_id=rep.id)
    first = next(iter(whole))
    assert whole[first][0] == filtered[first][0] + 1
    assert filtered[first][1]["EUR"] == Decimal("10.00")


def test_the_job_settles_the_columns_in_its_own_transaction(engine):
    with job_session(engine) as session:
        made = deal(session, amount="10").id
    assert settle_stage_totals(engine) >= 1
    with job_session(engine) as session:
        assert session.exec(select(func.count()).select_from(StageTotalChange)).one() == 0
        assert tallies.check(session, board.STAGE_TOTALS) == []
        session.execute(delete(Deal).where(Deal.id == made))
    assert settle_stage_totals(engine) == 1
    with job_session(engine) as session:
        assert tallies.check(session, board.STAGE_TOTALS) == []
