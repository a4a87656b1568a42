"""Follow-up rules: editing them, checking them, and the default set. Their evaluation
is in ``crm.followups.evaluation``."""

from typing import Any

from sqlalchemy import delete, func, select
from sqlmodel import Session, col

from crm.core import audit
from crm.core.db import utcnow
from crm.core.errors import N_, Invalid, NotFound
from crm.core.i18n import translations
from crm.followups.models import (
    AssigneeMode,
    DateField,
    FollowupRule,
    FollowupRulePhase,
    FollowupRun,
    RuleCreate,
    RuleFields,
    RulePublic,
    Trigger,
)
from crm.journeys import service as journey_service
from crm.journeys.models import Journey, Phase
from crm.touchpoints.models import Channel
from crm.users import service as user_service

# The Classic journey's after-sales rules on a new installation (DOMAIN.md, after-sales).
DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "name": N_("Onboarding check-in"),
        "phases": ["retention"],
        "trigger": Trigger.TIME_IN_PHASE,
        "days": 14,
        "title_template": N_("Onboarding check-in with {name}"),
        "due_in_days": 2,
        "channel": "call",
    },
    {
        "name": N_("Loyalty check-in"),
        "phases": ["retention"],
        "trigger": Trigger.QUIET,
        "days": 90,
        "title_template": N_("Loyalty check-in with {name}"),
        "due_in_days": 3,
        "channel": "call",
    },
    {
        "name": N_("Call a detractor"),
        "phases": ["retention", "advocacy"],
        "trigger": Trigger.NPS,
        "nps_at_most": 6,
        "title_template": N_("Call {name} about their low score"),
        "due_in_days": 2,
        "channel": "call",
    },
    {
        "name": N_("Ask a promoter for a review"),
        "phases": ["retention"],
        "trigger": Trigger.NPS,
        "nps_at_least": 9,
        "title_template": N_("Ask {name} for a review or referral"),
        "due_in_days": 5,
        "channel": "email",
        "move_to": "advocacy",
    },
    {
        "name": N_("Renewal talk"),
        "phases": ["retention", "advocacy"],
        "trigger": Trigger.DATE,
        "date_field": DateField.COMPANY_RENEWAL,
        "days": 60,
        "title_template": N_("Renewal talk with {name}"),
        "due_in_days": 7,
        "channel": "meeting",
    },
]

# The triggers that count days; an NPS rule has none.
WITH_DAYS = {Trigger.TIME_IN_PHASE, Trigger.QUIET, Trigger.DATE, Trigger.DEAL_WON, Trigger.CADENCE}


# --- editing --------------------------------------------------------------------------


def list_rules(session: Session) -> list[FollowupRule]:
    return list(
        session.exec(select(FollowupRule).order_by(FollowupRule.name, FollowupRule.id)).scalars()
    )


def get_rule(session: Session, *, rule_id: int) -> FollowupRule:
    rule = session.get(FollowupRule, rule_id)
    if rule is None:
        raise NotFound(N_("No such rule."))
    return rule


def by_ids(session: Session, rule_ids: set[int]) -> dict[int, FollowupRule]:
    if not rule_ids:
        return {}
    query = select(FollowupRule).where(col(FollowupRule.id).in_(rule_ids))
    return {rule.id: rule for rule in session.exec(query).scalars()}


def phase_ids_of(session: Session, rule_ids: list[int]) -> dict[int, list[int]]:
    """The phases each rule watches, in one query."""
    found: dict[int, list[int]] = {rule_id: [] for rule_id in rule_ids}
    if rule_ids:
        rows = session.execute(
            select(FollowupRulePhase.rule_id, FollowupRulePhase.phase_id)
            .where(col(FollowupRulePhase.rule_id).in_(rule_ids))
            .order_by(FollowupRulePhase.phase_id)
        )
        for rule_id, phase_id in rows:
            found[rule_id].append(phase_id)
    return found


def public(session: Session, rules: list[FollowupRule]) -> list[RulePublic]:
    phases = phase_ids_of(session, [r.id for r in rules])
    return [
        RulePublic.model_validate(r, from_attributes=True, update={"phase_ids": phases[r.id]})
        for r in rules
    ]


def recent_runs(session: Session, *, limit: int = 50) -> list[FollowupRun]:
    query = select(FollowupRun).order_by(col(FollowupRun.started_at).desc()).limit(limit)
    return list(session.exec(query).scalars())


def _check(session: Session, rule: FollowupRule, phase_ids: list[int]) -> None:
    """Refuse a rule that could never fire as meant, field by field."""
    if session.get(Journey, rule.journey_id) is None:
        raise Invalid(N_("Choose one of the offered values."), field="journey_id")
    own = set(session.exec(select(Phase.id).where(Phase.journey_id == rule.journey_id)).scalars())
    if not set(phase_ids) <= own:
        raise Invalid(N_("Choose a phase of this journey."), field="phase_ids")
    if rule.move_to_phase_id is not None and rule.move_to_phase_id not in own:
        raise Invalid(N_("Choose a phase of this journey."), field="move_to_phase_id")
    if rule.trigger in WITH_DAYS and rule.days is None:
        raise Invalid(N_("Give the number of days."), field="days")
    if rule.trigger == Trigger.NPS:
        low, high = rule.nps_at_least, rule.nps_at_most
        if low is None and high is None:
            raise Invalid(N_("Give the lowest or the highest score, or both."), field="nps_at_most")
        if low is not None and high is not None and low > high:
            raise Invalid(N_("The lowest score is above the highest."), field="nps_at_least")
    if rule.trigger == Trigger.DATE and rule.date_field is None:
        raise Invalid(N_("Choose the date to count down to."), field="date_field")
    if rule.assignee_mode == AssigneeMode.USER:
        user_service.check_active_user(session, rule.assignee_id, field="assignee_id")
    if rule.channel_id is not None and session.get(Channel, rule.channel_id) is None:
        raise Invalid(N_("Choose one of the offered values."), field="channel_id")


def _set_phases(session: Session, rule: FollowupRule, phase_ids: list[int]) -> None:
    session.execute(delete(FollowupRulePhase).where(col(FollowupRulePhase.rule_id) == rule.id))
    session.add_all(FollowupRulePhase(rule_id=rule.id, phase_id=p) for p in set(phase_ids))
    session.flush()


def _tidy(rule: FollowupRule) -> None:
    """Drop what the trigger does not use, so that a rule says only what it does."""
    if rule.trigger not in WITH_DAYS:
        rule.days = None
    if rule.trigger != Trigger.NPS:
        rule.nps_at_least = rule.nps_at_most = None
    if rule.trigger != Trigger.DATE:
        rule.date_field = None
    if rule.assignee_mode != AssigneeMode.USER:
        rule.assignee_id = None


def create_rule(session: Session, *, data: RuleCreate, actor_id: int | None) -> FollowupRule:
    rule = FollowupRule.model_validate(data.model_dump(exclude={"phase_ids"}))
    _tidy(rule)
    _check(session, rule, data.phase_ids)
    audit.save(session, rule, actor_id=actor_id, action="followup_rule.create")
    _set_phases(session, rule, data.phase_ids)
    return rule


def update_rule(
    session: Session, *, rule: FollowupRule, data: RuleFields, actor_id: int | None
) -> FollowupRule:
    changes = data.model_dump(exclude_unset=True)
    for required in ("name", "trigger", "title_template", "assignee_mode", "due_in_days"):
        if required in changes and changes[required] is None:
            raise Invalid(N_("This field is required."), field=required)
    phase_ids = changes.pop("phase_ids", None)
    if phase_ids is None:
        phase_ids = phase_ids_of(session, [rule.id])[rule.id]
    rule.sqlmodel_update({**changes, "updated_at": utcnow()})
    _tidy(rule)
    _check(session, rule, phase_ids)
    audit.save(session, rule, actor_id=actor_id, action="followup_rule.update", fields=changes)
    _set_phases(session, rule, phase_ids)
    return rule


def delete_rule(session: Session, *, rule: FollowupRule, actor_id: int | None) -> None:
    """Its follow-ups stay, without their rule."""
    audit.delete(session, rule, actor_id=actor_id, action="followup_rule.delete")


def seed_default_rules(session: Session, *, language: str = "en") -> None:
    """The default after-sales rules, when the Classic journey exists and has no rules;
    their names and follow-up titles in the installation's language."""
    journey = journey_service.classic_journey(session)
    if journey is None:
        return
    if session.exec(select(FollowupRule.id).where(FollowupRule.journey_id == journey.id)).first():
        return
    phases = {
        p.key: p.id
        for p in session.exec(select(Phase).where(Phase.journey_id == journey.id)).scalars()
    }
    channels = dict(session.execute(select(Channel.key, Channel.id)).all())
    gettext = translations(language).gettext
    for default in DEFAULT_RULES:
        values = dict(default)
        wanted, move_to = values.pop("phases"), values.pop("move_to", None)
        values["name"] = gettext(values["name"])
        values["title_template"] = gettext(values["title_template"])
        channel = values.pop("channel")
        if not set(wanted) <= phases.keys():
            continue  # the journey was changed before the rules were seeded
        data = RuleCreate(
            **values,
            journey_id=journey.id,
            phase_ids=[phases[key] for key in wanted],
            move_to_phase_id=phases.get(move_to) if move_to else None,
            channel_id=channels.get(channel),
            purpose="customer_relationship",
        )
        create_rule(session, data=data, actor_id=None)


def run_metrics(session: Session) -> list[str]:
    """The scheduler's rule runs for /metrics: how many, how many failed, the last one."""
    total, failed, last = session.execute(
        select(
            func.count(FollowupRun.id),
            func.count(FollowupRun.error),
            func.max(FollowupRun.finished_at),
        )
    ).one()
    return [
        "# HELP crm_followup_runs_total Evaluations of the follow-up rules, and failures.",
        "# TYPE crm_followup_runs_total counter",
        f"crm_followup_runs_total {total}",
        f'crm_followup_runs_total{{result="error"}} {failed}',
        "# HELP crm_followup_last_run_timestamp_seconds When the last evaluation ended.",
        "# TYPE crm_followup_last_run_timestamp_seconds gauge",
        f"crm_followup_last_run_timestamp_seconds {last.timestamp() if last else 0:.0f}",
    ]
