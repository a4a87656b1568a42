"""Follow-ups by hand: creating, completing with the touchpoint, snoozing, and the
planner's groups in the user's time zone."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm.core.errors import Conflict, Invalid
from crm.followups import service
from crm.followups.models import FollowupComplete, FollowupCreate
from crm.touchpoints import service as touchpoint_service
from tests.factories import make_company, make_contact, make_user

BERLIN = ZoneInfo("Europe/Berlin")
# A Wednesday, 10:00 in Berlin.
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def new(session, due, **fields):
    if "company_id" not in fields:
        fields.setdefault("contact_id", make_contact(session).id)
    data = FollowupCreate(title="Call back", due_at=due, **fields)
    return service.create_followup(session, data=data, actor_id=None)


def test_it_goes_to_whoever_creates_it_unless_given_to_another(session):
    me, colleague = make_user(session), make_user(session)
    mine = service.create_followup(
        session,
        data=FollowupCreate(title="Mine", due_at=NOW, company_id=make_company(session).id),
        actor_id=me.id,
    )
    theirs = new(session, NOW, assignee_id=colleague.id)
    assert (mine.assignee_id, theirs.assignee_id) == (me.id, colleague.id)
    with pytest.raises(Invalid):
        new(session, NOW, assignee_id=999999)
    with pytest.raises(Invalid):
        new(session, NOW, contact_id=999999)


def test_completing_logs_the_touchpoint_in_the_same_step(session):
    contact = make_contact(session)
    followup = new(session, NOW, contact_id=contact.id)
    service.complete_followup(
        session,
        followup=followup,
        data=FollowupComplete(
            summary="Talked about the renewal", touchpoint={"channel": "meeting"}
        ),
        actor_id=None,
    )
    assert followup.status == "done" and followup.completed_at is not None
    (touchpoint,) = touchpoint_service.list_touchpoints(session, contact_id=contact.id)[0]
    assert (touchpoint.id, touchpoint.summary) == (
        followup.touchpoint_id,
        "Talked about the renewal",
    )
    with pytest.raises(Conflict):
        service.complete_followup(
            session, followup=followup, data=FollowupComplete(), actor_id=None
        )


def test_done_without_a_summary_logs_nothing(session):
    contact = make_contact(session)
    followup = new(session, NOW, contact_id=contact.id)
    service.complete_followup(session, followup=followup, data=FollowupComplete(), actor_id=None)
    assert followup.touchpoint_id is None
    assert touchpoint_service.list_touchpoints(session, contact_id=contact.id)[0] == []


def test_snooze_and_cancel(session):
    followup = new(session, NOW)
    with pytest.raises(Invalid):
        service.snooze_followup(
            session, followup=followup, until=NOW - timedelta(days=1), actor_id=None
        )
    later = datetime.now(UTC) + timedelta(days=3)
    service.snooze_followup(session, followup=followup, until=later, actor_id=None)
    assert (followup.status, followup.due_at) == ("snoozed", later)
    service.cancel_followup(session, followup=followup, actor_id=None)
    with pytest.raises(Conflict):
        service.snooze_followup(session, followup=followup, until=later, actor_id=None)


def test_the_planner_groups_by_the_users_days(session):
    user = make_user(session)
    due = {
        "overdue": NOW - timedelta(hours=1),
        "today": datetime(2026, 12, 2, 22, 30, tzinfo=UTC),  # 23:30 in Berlin
        # still the 2nd in UTC, but 00:30 on Thursday in Berlin: not today there
        "thursday": datetime(2026, 12, 2, 23, 30, tzinfo=UTC),
        "sunday": datetime(2026, 12, 6, 20, 0, tzinfo=UTC),
        "monday": datetime(2026, 12, 6, 23, 30, tzinfo=UTC),  # Monday 00:30 in Berlin
    }
    made = {key: new(session, at, assignee_id=user.id) for key, at in due.items()}
    done = new(session, NOW, assignee_id=user.id)
    service.complete_followup(session, followup=done, data=FollowupComplete(), actor_id=None)
    new(session, NOW, assignee_id=make_user(session).id)  # someone else's
    groups = service.planner(session, assignee_id=user.id, time_zone=BERLIN, now=NOW)
    assert {key: [f.id for f in group.followups] for key, group in groups.items()} == {
        "overdue": [made["overdue"].id],
        "today": [made["today"].id],
        "this_week": [made["thursday"].id, made["sunday"].id],
        "later": [made["monday"].id],
    }
    assert [group.total for group in groups.values()] == [1, 1, 2, 1]


def test_a_long_planner_group_comes_a_page_at_a_time(session):
    user = make_user(session)
    made = [new(session, NOW - timedelta(hours=n + 1), assignee_id=user.id) for n in range(5)]
    made.reverse()  # oldest first
    groups = service.planner(session, assignee_id=user.id, time_zone=BERLIN, now=NOW, limit=2)
    overdue = groups["overdue"]
    assert (overdue.total, [f.id for f in overdue.followups]) == (5, [f.id for f in made[:2]])
    seen = [f.id for f in overdue.followups]
    cursor = overdue.next_cursor
    while cursor:
        (page,) = service.planner(
            session,
            assignee_id=user.id,
            time_zone=BERLIN,
            now=NOW,
            only="overdue",
            cursor=cursor,
            limit=2,
        ).values()
        seen += [f.id for f in page.followups]
        cursor = page.next_cursor
    assert seen == [f.id for f in made]


def test_a_subjects_pending_follow_ups(session):
    company = make_company(session)
    first, second = (
        new(session, NOW, company_id=company.id),
        new(session, NOW + timedelta(days=1), company_id=company.id),
    )
    service.cancel_followup(session, followup=second, actor_id=None)
    assert [f.id for f in service.pending_for(session, company_id=company.id)] == [first.id]
