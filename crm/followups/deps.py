"""Path parameters that load their row or answer 404."""

from typing import Annotated

from fastapi import Depends

from crm.core.db import SessionDep
from crm.followups import rules
from crm.followups import service as followup_service
from crm.followups.models import Followup, FollowupRule


def valid_followup_id(followup_id: int, session: SessionDep) -> Followup:
    return followup_service.get_followup(session, followup_id=followup_id)


FollowupDep = Annotated[Followup, Depends(valid_followup_id)]


def valid_rule_id(rule_id: int, session: SessionDep) -> FollowupRule:
    return rules.get_rule(session, rule_id=rule_id)


RuleDep = Annotated[FollowupRule, Depends(valid_rule_id)]
