"""Follow-up rules for admins: the list with the recent runs, a rule's form, a run now."""

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ValidationError
from sqlmodel import Session

from crm.core.db import SessionDep, savepoint
from crm.core.errors import N_, CRMError
from crm.core.forms import FormErrors
from crm.core.templating import flash, render
from crm.followups import jobs, rules
from crm.followups.deps import RuleDep
from crm.followups.models import (
    AssigneeMode,
    DateField,
    FollowupRule,
    RuleCreate,
    RuleUpdate,
    Trigger,
)
from crm.journeys import service as journey_service
from crm.touchpoints import service as touchpoint_service
from crm.users import service as user_service
from crm.users.deps import AdminUser

router = APIRouter(tags=["pages"], include_in_schema=False)

# Numbers a form sends as text; an empty one means none.
NUMBERS = ("days", "nps_at_least", "nps_at_most", "assignee_id", "channel_id", "move_to_phase_id")


class RuleForm(BaseModel):
    """A rule's form as posted, kept as typed so that a refused one comes back as it was."""

    name: str = ""
    journey_id: str = ""
    phase_ids: list[str] = []
    segment: str = ""
    trigger: str = Trigger.TIME_IN_PHASE
    days: str = ""
    nps_at_least: str = ""
    nps_at_most: str = ""
    date_field: str = ""
    title_template: str = "{name}"
    assignee_mode: str = AssigneeMode.OWNER
    assignee_id: str = ""
    due_in_days: str = "0"
    channel_id: str = ""
    move_to_phase_id: str = ""
    purpose: str = ""
    is_active: bool = False

    def values(self) -> dict[str, Any]:
        values: dict[str, Any] = self.model_dump()
        for name in NUMBERS:
            values[name] = values[name] or None
        values["phase_ids"] = [p for p in self.phase_ids if p]
        return values

    @classmethod
    def of(cls, rule: FollowupRule, phase_ids: list[int]) -> "RuleForm":
        stored = {k: "" if v is None else str(v) for k, v in rule.model_dump().items()}
        return cls.model_validate(
            {**stored, "phase_ids": [str(p) for p in phase_ids], "is_active": rule.is_active}
        )


def _choices(session: Session) -> dict[str, Any]:
    journeys = journey_service.list_journeys(session)
    phases = journey_service.phases_by_journey(session, {j.id for j in journeys})
    return {
        "journeys": journeys,
        "phases": phases,
        "triggers": list(Trigger),
        "date_fields": list(DateField),
        "assignee_modes": list(AssigneeMode),
        "users": user_service.active_user_choices(session),
        "channels": touchpoint_service.Labels(session).offered_channels(),
    }


def _form_page(
    request: Request,
    session: Session,
    *,
    rule: FollowupRule | None,
    form: RuleForm,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {"rule": rule, "form": form, "errors": errors or {}, **_choices(session)}
    return render(request, "followups/rule_form.html", context, status_code=status_code)


@router.get("/followups/rules", response_class=HTMLResponse)
def rules_page(request: Request, session: SessionDep, admin: AdminUser) -> HTMLResponse:
    listed = rules.list_rules(session)
    return render(
        request,
        "followups/rules.html",
        {
            "rules": listed,
            "phase_ids": rules.phase_ids_of(session, [r.id for r in listed]),
            "runs": rules.recent_runs(session, limit=20),
            **_choices(session),
        },
    )


@router.get("/followups/rules/new", response_class=HTMLResponse)
def new_rule_page(request: Request, session: SessionDep, admin: AdminUser) -> HTMLResponse:
    return _form_page(request, session, rule=None, form=RuleForm(is_active=True))


@router.post("/followups/rules", response_class=HTMLResponse)
def create_rule(
    request: Request, session: SessionDep, admin: AdminUser, form: Annotated[RuleForm, Form()]
) -> Response:
    errors = FormErrors(request.state.language)
    try:
        with session.begin_nested():
            rule = rules.create_rule(session, data=RuleCreate(**form.values()), actor_id=admin.id)
    except (ValidationError, CRMError) as exc:
        errors.add_error(exc)
        return _form_page(request, session, rule=None, form=form, errors=errors, status_code=422)
    flash(request, "success", N_("Rule %(name)s created."), name=rule.name)
    return RedirectResponse("/followups/rules", status_code=303)


@router.get("/followups/rules/{rule_id}", response_class=HTMLResponse)
def rule_page(
    request: Request, session: SessionDep, rule: RuleDep, admin: AdminUser
) -> HTMLResponse:
    form = RuleForm.of(rule, rules.phase_ids_of(session, [rule.id])[rule.id])
    return _form_page(request, session, rule=rule, form=form)


@router.post("/followups/rules/{rule_id}", response_class=HTMLResponse)
def update_rule(
    request: Request,
    session: SessionDep,
    rule: RuleDep,
    admin: AdminUser,
    form: Annotated[RuleForm, Form()],
) -> Response:
    errors = FormErrors(request.state.language)
    values = form.values()
    values.pop("journey_id")  # a rule stays with its journey
    try:
        with session.begin_nested():
            rules.update_rule(session, rule=rule, data=RuleUpdate(**values), actor_id=admin.id)
    except (ValidationError, CRMError) as exc:
        errors.add_error(exc)
        session.refresh(rule)
        return _form_page(request, session, rule=rule, form=form, errors=errors, status_code=422)
    flash(request, "success", N_("Changes saved."))
    return RedirectResponse("/followups/rules", status_code=303)


@router.post("/followups/rules/{rule_id}/delete")
def delete_rule(session: SessionDep, rule: RuleDep, admin: AdminUser, request: Request) -> Response:
    rules.delete_rule(session, rule=rule, actor_id=admin.id)
    flash(request, "success", N_("Rule deleted; its follow-ups stay."))
    return RedirectResponse("/followups/rules", status_code=303)


@router.post("/followups/run")
def run_rules(request: Request, session: SessionDep, admin: AdminUser) -> Response:
    """Evaluate the rules now, recorded like a scheduled run."""
    run = jobs.evaluate_rules(lambda: savepoint(session))
    if run.error:
        flash(request, "error", N_("The run failed: %(error)s"), error=run.error)
    else:
        flash(request, "success", N_("%(count)s follow-ups created."), count=run.created)
    return RedirectResponse("/followups/rules#runs", status_code=303)
