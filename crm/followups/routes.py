"""Follow-ups: the JSON API."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from crm.contacts.deps import Editor
from crm.core.db import SessionDep, savepoint
from crm.core.schemas import Moment
from crm.followups import calendar, jobs, rules
from crm.followups import service as followup_service
from crm.followups.deps import FollowupDep, RuleDep
from crm.followups.models import (
    CalendarLink,
    FollowupComplete,
    FollowupCreate,
    FollowupPublic,
    FollowupSnooze,
    FollowupsPage,
    FollowupStatus,
    FollowupUpdate,
    RuleCreate,
    RulePublic,
    RuleUpdate,
    RunPublic,
    RunRequest,
)
from crm.users.deps import AdminUser, CurrentUser

api_router = APIRouter(prefix="/api/v1", tags=["follow-ups"])


@api_router.get("/followup-rules", response_model=list[RulePublic])
def api_rules(session: SessionDep, user: CurrentUser) -> list[RulePublic]:
    return rules.public(session, rules.list_rules(session))


@api_router.post("/followup-rules", response_model=RulePublic, status_code=201)
def api_create_rule(session: SessionDep, admin: AdminUser, data: RuleCreate) -> RulePublic:
    rule = rules.create_rule(session, data=data, actor_id=admin.id)
    return rules.public(session, [rule])[0]


@api_router.get("/followup-rules/{rule_id}", response_model=RulePublic)
def api_rule(session: SessionDep, rule: RuleDep, user: CurrentUser) -> RulePublic:
    return rules.public(session, [rule])[0]


@api_router.patch("/followup-rules/{rule_id}", response_model=RulePublic)
def api_update_rule(
    session: SessionDep, rule: RuleDep, admin: AdminUser, data: RuleUpdate
) -> RulePublic:
    rule = rules.update_rule(session, rule=rule, data=data, actor_id=admin.id)
    return rules.public(session, [rule])[0]


@api_router.delete("/followup-rules/{rule_id}", status_code=204)
def api_delete_rule(session: SessionDep, rule: RuleDep, admin: AdminUser) -> Response:
    """The rule goes; the follow-ups it created stay."""
    rules.delete_rule(session, rule=rule, actor_id=admin.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@api_router.post("/followups/run", response_model=RunPublic)
def api_run_rules(
    session: SessionDep, admin: AdminUser, data: RunRequest | None = None
) -> RunPublic:
    """Evaluate the rules now, or as at ``as_of``; the run is recorded like a scheduled one."""
    as_of = data.as_of if data else None
    run = jobs.evaluate_rules(lambda: savepoint(session), as_of=as_of)
    return RunPublic.model_validate(run, from_attributes=True)


@api_router.get("/followups/runs", response_model=list[RunPublic])
def api_runs(session: SessionDep, admin: AdminUser) -> list[RunPublic]:
    return [RunPublic.model_validate(r, from_attributes=True) for r in rules.recent_runs(session)]


@api_router.post("/followups/calendar-link", response_model=CalendarLink, status_code=201)
def api_create_calendar_link(
    request: Request, session: SessionDep, user: CurrentUser
) -> CalendarLink:
    """A secret iCalendar link to your follow-ups, shown once; an older one stops working."""
    token = calendar.create_feed(session, user=user)
    return CalendarLink(url=str(request.url_for("calendar_feed", token=token)))


@api_router.delete("/followups/calendar-link", status_code=204)
def api_revoke_calendar_link(session: SessionDep, user: CurrentUser) -> Response:
    calendar.revoke_feed(session, user=user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@api_router.get("/followups", response_model=FollowupsPage)
def api_followups(
    session: SessionDep,
    user: CurrentUser,
    assignee_id: int | None = None,
    status: FollowupStatus | None = None,
    due_from: Moment | None = None,
    due_to: Moment | None = None,
    contact_id: int | None = None,
    company_id: int | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> FollowupsPage:
    items, next_cursor = followup_service.list_followups(
        session,
        assignee_id=assignee_id,
        status=status,
        due_from=due_from,
        due_to=due_to,
        contact_id=contact_id,
        company_id=company_id,
        cursor=cursor,
        limit=limit,
    )
    return FollowupsPage(
        items=[FollowupPublic.model_validate(f) for f in items], next_cursor=next_cursor
    )


@api_router.post("/followups", response_model=FollowupPublic, status_code=201)
def api_create_followup(session: SessionDep, user: Editor, data: FollowupCreate) -> FollowupPublic:
    followup = followup_service.create_followup(session, data=data, actor_id=user.id)
    return FollowupPublic.model_validate(followup)


@api_router.get("/followups/{followup_id}", response_model=FollowupPublic)
def api_followup(session: SessionDep, followup: FollowupDep, user: CurrentUser) -> FollowupPublic:
    return FollowupPublic.model_validate(followup)


@api_router.patch("/followups/{followup_id}", response_model=FollowupPublic)
def api_update_followup(
    session: SessionDep, followup: FollowupDep, user: Editor, data: FollowupUpdate
) -> FollowupPublic:
    followup = followup_service.update_followup(
        session, followup=followup, data=data, actor_id=user.id
    )
    return FollowupPublic.model_validate(followup)


@api_router.delete("/followups/{followup_id}", status_code=204)
def api_delete_followup(session: SessionDep, followup: FollowupDep, user: Editor) -> Response:
    followup_service.delete_followup(session, followup=followup, actor_id=user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@api_router.post("/followups/{followup_id}/complete", response_model=FollowupPublic)
def api_complete_followup(
    session: SessionDep, followup: FollowupDep, user: Editor, data: FollowupComplete | None = None
) -> FollowupPublic:
    """Done; with a ``summary`` (and optionally the touchpoint's other fields) the call or
    meeting is logged on the subject's timeline in the same step."""
    followup = followup_service.complete_followup(
        session, followup=followup, data=data or FollowupComplete(), actor_id=user.id
    )
    return FollowupPublic.model_validate(followup)


@api_router.post("/followups/{followup_id}/snooze", response_model=FollowupPublic)
def api_snooze_followup(
    session: SessionDep, followup: FollowupDep, user: Editor, data: FollowupSnooze
) -> FollowupPublic:
    followup = followup_service.snooze_followup(
        session, followup=followup, until=data.until, actor_id=user.id
    )
    return FollowupPublic.model_validate(followup)


@api_router.post("/followups/{followup_id}/cancel", response_model=FollowupPublic)
def api_cancel_followup(session: SessionDep, followup: FollowupDep, user: Editor) -> FollowupPublic:
    followup = followup_service.cancel_followup(session, followup=followup, actor_id=user.id)
    return FollowupPublic.model_validate(followup)
