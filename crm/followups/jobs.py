"""The scheduled evaluation of the follow-up rules, recorded run by run."""

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime

from sqlmodel import Session

from crm.core.db import default_engine, job_session, utcnow
from crm.followups import evaluation
from crm.followups.models import FollowupRun

log = logging.getLogger("crm.followups")
JOB = "followups.evaluate_rules"


def evaluate_rules(
    open_session: Callable[[], AbstractContextManager[Session]] | None = None,
    *,
    as_of: datetime | None = None,
) -> FollowupRun:
    """Evaluate every rule in one transaction, and record the run in another, failed or
    not: a failed run leaves no follow-up of its own behind."""
    open_session = open_session or (lambda: job_session(default_engine()))
    run = FollowupRun(job=JOB, as_of=as_of or utcnow())
    try:
        with open_session() as session:
            tally = evaluation.run(session, as_of=run.as_of)
            run.created, run.skipped = tally.created, tally.skipped
    except Exception as exc:
        run.error = type(exc).__name__
        log.exception("the follow-up rules failed")
    run.finished_at = utcnow()
    with open_session() as session:
        session.add(run)
        session.flush()
        session.refresh(run)
        session.expunge(run)
    return run
