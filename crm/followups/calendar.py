"""Follow-ups in calendars: the planner's week, and a user's iCalendar feed behind a
secret, revocable link.

The feed is a few lines of RFC 5545 (events with a start, a length, a title, a link),
written by hand like our vCards rather than with a library.
"""

import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlmodel import Session, col, select

from crm.core import audit
from crm.core.contentlines import escape, fold
from crm.core.db import utcnow
from crm.core.errors import N_, NotFound
from crm.followups.models import PENDING, CalendarFeed, Followup, FollowupStatus
from crm.users import service as user_service
from crm.users.models import User

# What a feed holds: what is still to do, and what was due lately (done or not).
FEED_PAST = timedelta(days=30)
FEED_LIMIT = 1000
EVENT_LENGTH = "PT30M"


@dataclass
class Day:
    day: date
    followups: list[Followup]


def week(session: Session, *, assignee_id: int, time_zone: ZoneInfo, start: date) -> list[Day]:
    """The user's follow-ups due in the week (Monday to Sunday, in their time zone) that
    holds ``start``, pending and done, day by day."""
    monday = start - timedelta(days=start.weekday())
    begin = datetime.combine(monday, time.min, tzinfo=time_zone)
    end = begin + timedelta(days=7)
    query = (
        select(Followup)
        .where(
            Followup.assignee_id == assignee_id,
            col(Followup.status).in_([*PENDING, FollowupStatus.DONE]),
            Followup.due_at >= begin,
            Followup.due_at < end,
        )
        .order_by(Followup.due_at, Followup.id)
    )
    days = [Day(monday + timedelta(days=n), []) for n in range(7)]
    for followup in session.exec(query):
        days[(followup.due_at.astimezone(time_zone).date() - monday).days].followups.append(
            followup
        )
    return days


def create_feed(session: Session, *, user: User) -> str:
    """A new secret link token for the user; an older one stops working."""
    session.execute(delete(CalendarFeed).where(col(CalendarFeed.user_id) == user.id))
    token = secrets.token_urlsafe(32)
    feed = CalendarFeed(user_id=user.id, token_hash=user_service.hash_token(token))
    audit.save(session, feed, actor_id=user.id, action="calendar_feed.create")
    return token


def revoke_feed(session: Session, *, user: User) -> None:
    feed = session.exec(select(CalendarFeed).where(CalendarFeed.user_id == user.id)).first()
    if feed is None:
        raise NotFound(N_("There is no calendar link to revoke."))
    audit.delete(session, feed, actor_id=user.id, action="calendar_feed.revoke")


def has_feed(session: Session, *, user_id: int) -> bool:
    query = select(CalendarFeed.id).where(CalendarFeed.user_id == user_id)
    return session.exec(query).first() is not None


def feed_user(session: Session, *, token: str) -> User:
    """The active user whose link this is; any other token is unknown."""
    feed = session.exec(
        select(CalendarFeed).where(CalendarFeed.token_hash == user_service.hash_token(token))
    )
    found = feed.first()
    user = session.get(User, found.user_id) if found else None
    if user is None or not user.is_active:
        raise NotFound(N_("No such calendar."))
    return user


def feed_followups(
    session: Session, *, user_id: int, now: datetime | None = None
) -> list[Followup]:
    since = (now or utcnow()) - FEED_PAST
    query = (
        select(Followup)
        .where(
            Followup.assignee_id == user_id,
            col(Followup.status).in_([*PENDING, FollowupStatus.DONE]),
            (col(Followup.status).in_(PENDING)) | (Followup.due_at >= since),
        )
        .order_by(Followup.due_at, Followup.id)
        .limit(FEED_LIMIT)
    )
    return list(session.exec(query))


def _stamp(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y%m%dT%H%M%SZ")


def ical(
    followups: list[Followup], *, names: dict[tuple[str, int], str], base_url: str, host: str
) -> str:
    """The follow-ups as an iCalendar document, one event each."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//CRM//Follow-ups//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:" + escape("CRM follow-ups"),
    ]
    for f in followups:
        kind, subject_id = ("contact", f.contact_id) if f.contact_id else ("company", f.company_id)
        name = names.get((kind, subject_id or 0), "")
        url = f"{base_url}/{'contacts' if kind == 'contact' else 'companies'}/{subject_id}"
        title = f"{f.title} ({name})" if name and name not in f.title else f.title
        if f.status == FollowupStatus.DONE:
            title = "✓ " + title
        lines += [
            "BEGIN:VEVENT",
            f"UID:followup-{f.id}@{host}",
            "DTSTAMP:" + _stamp(f.updated_at),
            "DTSTART:" + _stamp(f.due_at),
            "DURATION:" + EVENT_LENGTH,
            "SUMMARY:" + escape(title),
            "DESCRIPTION:" + escape("\n".join(filter(None, [f.notes, url]))),
            "URL:" + url,
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(fold(line) for line in lines)
