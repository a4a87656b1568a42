"""The planner's week and the iCalendar feed."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm.core.errors import NotFound
from crm.followups import calendar
from crm.followups.models import Followup, FollowupStatus
from tests.factories import make_contact, make_user

BERLIN = ZoneInfo("Europe/Berlin")


def add(session, user, due, **fields):
    followup = Followup(
        contact_id=fields.pop("contact_id", None) or make_contact(session).id,
        title=fields.pop("title", "Call"),
        due_at=due,
        assignee_id=user.id,
        **fields,
    )
    session.add(followup)
    session.flush()
    return followup


def test_the_week_runs_monday_to_sunday_in_the_users_zone(session):
    user = make_user(session)
    # Sunday 23:30 in Berlin is Sunday 22:30 UTC; Monday 00:30 in Berlin is Sunday 23:30 UTC
    sunday_late = add(session, user, datetime(2026, 12, 6, 22, 30, tzinfo=UTC))
    monday_early = add(session, user, datetime(2026, 12, 6, 23, 30, tzinfo=UTC))
    done = add(session, user, datetime(2026, 12, 8, 9, tzinfo=UTC), status=FollowupStatus.DONE)
    add(session, user, datetime(2026, 12, 8, 9, tzinfo=UTC), status=FollowupStatus.CANCELLED)
    add(session, make_user(session), datetime(2026, 12, 8, 9, tzinfo=UTC))  # someone else's
    this_week = calendar.week(
        session, assignee_id=user.id, time_zone=BERLIN, start=date(2026, 12, 3)
    )
    assert [d.day for d in this_week] == [date(2026, 11, 30) + timedelta(days=n) for n in range(7)]
    assert [f.id for f in this_week[6].followups] == [sunday_late.id]
    assert sum(len(d.followups) for d in this_week) == 1
    next_week = calendar.week(
        session, assignee_id=user.id, time_zone=BERLIN, start=date(2026, 12, 7)
    )
    assert [f.id for f in next_week[0].followups] == [monday_early.id]
    assert [f.id for f in next_week[1].followups] == [done.id]


def test_a_feed_link_works_until_a_new_one_or_revoking(session):
    user = make_user(session)
    first = calendar.create_feed(session, user=user)
    assert calendar.feed_user(session, token=first).id == user.id
    second = calendar.create_feed(session, user=user)
    with pytest.raises(NotFound):
        calendar.feed_user(session, token=first)
    assert calendar.has_feed(session, user_id=user.id)
    calendar.revoke_feed(session, user=user)
    with pytest.raises(NotFound):
        calendar.feed_user(session, token=second)
    with pytest.raises(NotFound):
        calendar.revoke_feed(session, user=user)
    third = calendar.create_feed(session, user=user)
    user.is_active = False
    with pytest.raises(NotFound):
        calendar.feed_user(session, token=third)


def test_the_feed_holds_what_is_to_do_and_what_was_done_lately(session):
    user = make_user(session)
    now = datetime(2026, 12, 2, 9, tzinfo=UTC)
    old_pending = add(session, user, now - timedelta(days=90))
    old_done = add(session, user, now - timedelta(days=90), status=FollowupStatus.DONE)
    recent_done = add(session, user, now - timedelta(days=3), status=FollowupStatus.DONE)
    add(session, user, now, status=FollowupStatus.CANCELLED)
    coming = add(session, user, now + timedelta(days=3))
    found = calendar.feed_followups(session, user_id=user.id, now=now)
    assert [f.id for f in found] == [old_pending.id, recent_done.id, coming.id]
    assert old_done.id not in [f.id for f in found]


def test_ical_escapes_folds_and_links(session):
    user = make_user(session)
    contact = make_contact(session, first_name="Zoë", last_name="Müller-Lüdenscheidt")
    followup = add(
        session,
        user,
        datetime(2026, 12, 3, 14, 0, tzinfo=UTC),
        contact_id=contact.id,
        title="Renewal; prices, terms " + "and a very long title that needs folding " * 2,
        notes="Line one\nLine two",
    )
    text = calendar.ical(
        [followup],
        names={("contact", contact.id): contact.name},
        base_url="https://crm.example",
        host="crm.example",
    )
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert f"UID:followup-{followup.id}@crm.example" in text
    assert "DTSTART:20261203T140000Z" in text
    for line in text.split("\r\n"):
        assert len(line.encode()) <= 75
    unfolded = text.replace("\r\n ", "")
    assert "SUMMARY:Renewal\\; prices\\, terms and a very long title" in unfolded
    assert "(Zoë Müller-Lüdenscheidt)" in unfolded
    assert (
        f"DESCRIPTION:Line one\\nLine two\\nhttps://crm.example/contacts/{contact.id}" in unfolded
    )
