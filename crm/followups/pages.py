"""Follow-up pages: the planner, and the follow-ups card of contact and company pages."""

from datetime import datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from crm.contacts.deps import EDITOR_ROLES, CompanyDep, ContactDep, Editor
from crm.core import lists
from crm.core.db import SessionDep
from crm.core.errors import N_, Invalid
from crm.core.i18n import request_zone, translations
from crm.core.schemas import Day, parse_day
from crm.core.security import safe_next
from crm.core.templating import Options, render, run_change
from crm.followups import calendar, rules
from crm.followups import service as followup_service
from crm.followups.deps import FollowupDep
from crm.followups.models import Followup, FollowupComplete, FollowupCreate, FollowupUpdate
from crm.touchpoints.models import Channel
from crm.users import service as user_service
from crm.users.deps import CurrentUser
from crm.users.models import Role, User

router = APIRouter(tags=["pages"], include_in_schema=False)
# Who may look at another user's planner: the team view.
MANAGER_ROLES = (Role.ADMIN, Role.ACCOUNT_MANAGER)


def _local_time(request: Request, day: str, at: str = "09:00") -> datetime:
    """A date (and time) from a form, in the user's time zone."""
    try:
        moment = datetime.combine(parse_day(day), time.fromisoformat(at or "09:00"))
    except ValueError as exc:
        raise Invalid(N_("Give the date as YYYY-MM-DD."), field="due") from exc
    return moment.replace(tzinfo=request_zone(request))


def _shown(user: User, user_id: int | None) -> int:
    """Whose follow-ups: my own, or (for admins and account managers) a colleague's."""
    return user_id if user_id and user.has_role(*MANAGER_ROLES) else user.id


@router.get("/planner", response_class=HTMLResponse)
def planner_page(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    user_id: int | None = None,
    group: Literal["overdue", "today", "this_week", "later"] | None = None,
    cursor: str | None = None,
) -> HTMLResponse:
    """My follow-ups, or (for admins and account managers) a colleague's: every group's
    first page, or further pages of one group."""
    shown, zone = _shown(user, user_id), request_zone(request)
    team_view = user.has_role(*MANAGER_ROLES)
    groups = followup_service.planner(
        session, assignee_id=shown, time_zone=zone, only=group, cursor=cursor
    )
    everything = [f for g in groups.values() for f in g.followups]
    return render(
        request,
        "followups/planner.html",
        {
            "groups": groups,
            "only": group,
            "shown": shown,
            "team_view": team_view,
            "subjects": followup_service.subject_names(session, everything),
            "tomorrow": (datetime.now(zone) + timedelta(days=1)).date(),
            "has_feed": calendar.has_feed(session, user_id=user.id),
            # how many the rules skipped for want of a legal basis: the managers' concern
            "last_run": rules.recent_runs(session, limit=1) if team_view else [],
            **_explained(request, session, everything, user_service.active_user_choices(session)),
        },
    )


@router.get("/planner/week", response_class=HTMLResponse)
def week_page(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    start: Day | None = None,
    user_id: int | None = None,
) -> HTMLResponse:
    """A week of follow-ups, Monday to Sunday, a column a day."""
    shown, zone = _shown(user, user_id), request_zone(request)
    days = calendar.week(
        session, assignee_id=shown, time_zone=zone, start=start or datetime.now(zone).date()
    )
    everything = [f for day in days for f in day.followups]
    return render(
        request,
        "followups/week.html",
        {
            "days": days,
            "shown": shown,
            "today": datetime.now(zone).date(),
            "week_step": timedelta(days=7),
            "team_view": user.has_role(*MANAGER_ROLES),
            "subjects": followup_service.subject_names(session, everything),
            **_explained(request, session, everything, user_service.active_user_choices(session)),
        },
    )


@router.post("/planner/calendar-link", response_class=HTMLResponse)
def create_calendar_link(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    """A new secret link, shown once; an older one stops working."""
    token = calendar.create_feed(session, user=user)
    url = str(request.url_for("calendar_feed", token=token))
    return render(request, "followups/calendar_link.html", {"url": url}, status_code=201)


@router.post("/planner/calendar-link/revoke")
def revoke_calendar_link(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return run_change(
        request,
        session,
        lambda: calendar.revoke_feed(session, user=user),
        done=N_("The calendar link no longer works."),
        back="/planner",
    )


@router.get("/calendar/{token}.ics", name="calendar_feed")
def calendar_feed(request: Request, session: SessionDep, token: str) -> Response:
    """A user's follow-ups for their calendar app; the secret link is the only key."""
    owner = calendar.feed_user(session, token=token)
    followups = calendar.feed_followups(session, user_id=owner.id)
    body = calendar.ical(
        followups,
        names=followup_service.subject_names(session, followups),
        base_url=str(request.base_url).rstrip("/"),
        host=request.url.hostname or "crm",
    )
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=300"},
    )


@router.post("/followups")
def create_followup(
    request: Request,
    session: SessionDep,
    user: Editor,
    title: Annotated[str, Form()] = "",
    due: Annotated[str, Form()] = "",
    at: Annotated[str, Form()] = "",
    assignee_id: Annotated[str, Form()] = "",
    contact_id: Annotated[str, Form()] = "",
    company_id: Annotated[str, Form()] = "",
    notes: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    def action() -> Any:
        data = FollowupCreate(
            title=title,
            notes=notes,
            due_at=_local_time(request, due, at),
            assignee_id=int(assignee_id) if assignee_id.isdigit() else None,
            contact_id=int(contact_id) if contact_id.isdigit() else None,
            company_id=int(company_id) if company_id.isdigit() else None,
        )
        return followup_service.create_followup(session, data=data, actor_id=user.id)

    return run_change(
        request, session, action, done=N_("Follow-up added."), back=safe_next(next, "/planner")
    )


@router.post("/followups/{followup_id}/complete")
def complete_followup(
    request: Request,
    session: SessionDep,
    followup: FollowupDep,
    user: Editor,
    summary: Annotated[str, Form()] = "",
    channel: Annotated[str, Form()] = "call",
    touchpoint_id: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Done, logging what happened, or with a touchpoint logged a moment ago."""

    def data() -> FollowupComplete:
        if touchpoint_id.isdigit():
            return FollowupComplete(touchpoint_id=int(touchpoint_id))
        return FollowupComplete(
            summary=summary.strip() or None, touchpoint={"channel": channel or "call"}
        )

    return run_change(
        request,
        session,
        lambda: followup_service.complete_followup(
            session, followup=followup, data=data(), actor_id=user.id
        ),
        done=N_("Done."),
        back=safe_next(next, "/planner"),
    )


@router.post("/followups/{followup_id}/snooze")
def snooze_followup(
    request: Request,
    session: SessionDep,
    followup: FollowupDep,
    user: Editor,
    until: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    return run_change(
        request,
        session,
        lambda: followup_service.snooze_followup(
            session, followup=followup, until=_local_time(request, until), actor_id=user.id
        ),
        done=N_("Snoozed."),
        back=safe_next(next, "/planner"),
    )


@router.post("/followups/{followup_id}/reassign")
def reassign_followup(
    request: Request,
    session: SessionDep,
    followup: FollowupDep,
    user: Editor,
    assignee_id: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    return run_change(
        request,
        session,
        lambda: followup_service.update_followup(
            session,
            followup=followup,
            data=FollowupUpdate(assignee_id=int(assignee_id) if assignee_id.isdigit() else None),
            actor_id=user.id,
        ),
        done=N_("Reassigned."),
        back=safe_next(next, "/planner"),
    )


@router.post("/followups/{followup_id}/cancel")
def cancel_followup(
    request: Request,
    session: SessionDep,
    followup: FollowupDep,
    user: Editor,
    next: Annotated[str, Form()] = "",
) -> Response:
    return run_change(
        request,
        session,
        lambda: followup_service.cancel_followup(session, followup=followup, actor_id=user.id),
        done=N_("Cancelled."),
        back=safe_next(next, "/planner"),
    )


def _explained(
    request: Request, session: Session, followups: list[Followup], users: list[tuple[int, str]]
) -> dict[str, Any]:
    """What the follow-up items show beside each: the rule that made it, the suggested
    channel, and the pickers of their actions."""
    gettext = translations(getattr(request.state, "language", "en")).gettext
    channels = lists.entries(session, Channel)
    return {
        "rules_by_id": rules.by_ids(session, {f.rule_id for f in followups if f.rule_id}),
        "channel_names": {c.id: gettext(c.name) for c in channels},
        "channel_keys": {c.id: c.key for c in channels},
        "channel_options": Options([(c.key, gettext(c.name)) for c in channels]),
        "users": users,
        "user_options": Options(users),
    }


def _card(
    request: Request, session: SessionDep, user: Any, *, url: str, name: str, **subject: int
) -> HTMLResponse:
    pending = followup_service.pending_for(session, **subject)
    return render(
        request,
        "followups/subject.html",
        {
            "subject_url": url,
            "name": name,
            "subject": subject,
            "pending": pending,
            "may_change": user.has_role(*EDITOR_ROLES),
            **_explained(request, session, pending, user_service.active_user_choices(session)),
        },
    )


@router.get("/contacts/{contact_id}/followups", response_class=HTMLResponse)
def contact_followups(
    request: Request, session: SessionDep, contact: ContactDep, user: CurrentUser
) -> HTMLResponse:
    url = f"/contacts/{contact.id}"
    return _card(request, session, user, url=url, name=contact.name, contact_id=contact.id)


@router.get("/companies/{company_id}/followups", response_class=HTMLResponse)
def company_followups(
    request: Request, session: SessionDep, company: CompanyDep, user: CurrentUser
) -> HTMLResponse:
    url = f"/companies/{company.id}"
    return _card(request, session, user, url=url, name=company.name, company_id=company.id)
