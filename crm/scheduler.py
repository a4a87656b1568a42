"""The explicit list of scheduled jobs, and the scheduler that runs them.

Exactly one scheduler may run. ``crm serve`` starts one in its process; ``crm scheduler``
runs it on its own. A second one waits for a lock instead of running jobs twice: a
session-level advisory lock on PostgreSQL, a file lock beside the SQLite database.
"""

import fcntl
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import Connection, Engine, make_url, text

from crm.core.db import make_engine
from crm.core.settings import Settings

log = logging.getLogger("crm.scheduler")

# The job store's own table: created by APScheduler, not by our migrations.
JOBSTORE_TABLE = "apscheduler_jobs"
# An arbitrary constant that names our lock among PostgreSQL's advisory locks.
ADVISORY_LOCK_KEY = 0x43524D5343  # "CRMSC"


@dataclass(frozen=True)
class Job:
    id: str
    func: str
    trigger: str
    trigger_args: dict[str, Any]


def jobs(settings: Settings) -> list[Job]:
    """Every scheduled job; how often the follow-up rules run is a setting."""
    return [
        Job(
            "users.purge_login_attempts",
            "crm.users.jobs:purge_login_attempts",
            "interval",
            {"hours": 1},
        ),
        Job(
            "users.purge_idempotency_keys",
            "crm.users.jobs:purge_idempotency_keys",
            "interval",
            {"hours": 1},
        ),
        Job(
            "contacts.prune_search_words",
            "crm.contacts.jobs:prune_search_words",
            "interval",
            {"hours": 24},
        ),
        Job("imports.purge_imports", "crm.imports.jobs:purge_imports", "interval", {"hours": 24}),
        Job("deals.settle_forecast", "crm.deals.jobs:settle_forecast", "interval", {"minutes": 10}),
        Job(
            "deals.settle_stage_totals",
            "crm.deals.jobs:settle_stage_totals",
            "interval",
            {"minutes": 10},
        ),
        Job(
            "journeys.settle_phase_counts",
            "crm.journeys.jobs:settle_phase_counts",
            "interval",
            {"minutes": 10},
        ),
        Job(
            "journeys.settle_daily_figures",
            "crm.journeys.jobs:settle_daily_figures",
            "interval",
            {"minutes": 10},
        ),
        Job("gdpr.flag_due_requests", "crm.gdpr.jobs:flag_due_requests", "interval", {"hours": 24}),
        Job("gdpr.purge_exports", "crm.gdpr.jobs:purge_exports", "interval", {"hours": 24}),
        Job("gdpr.scrub_files", "crm.gdpr.jobs:scrub_files", "interval", {"hours": 24}),
        Job("gdpr.propose_erasures", "crm.gdpr.jobs:propose_erasures", "interval", {"hours": 24}),
        Job("mail.read_mailboxes", "crm.mail.jobs:read_mailboxes", "interval", {"minutes": 5}),
        Job("mail.send_outbox", "crm.mail.jobs:send_outbox", "interval", {"minutes": 1}),
        Job("mail.purge_triage", "crm.mail.jobs:purge_triage", "interval", {"hours": 24}),
        Job(
            "mail.sweep_attachment_files",
            "crm.mail.jobs:sweep_attachment_files",
            "interval",
            {"hours": 24},
        ),
        Job(
            "followups.evaluate_rules",
            "crm.followups.jobs:evaluate_rules",
            "interval",
            {"minutes": settings.followup_interval_minutes},
        ),
    ]


JOB_DEFAULTS = {
    "coalesce": True,  # many missed runs become one
    "misfire_grace_time": 24 * 3600,  # a run missed while the service was down still happens
    "max_instances": 1,
}


def configure(scheduler: BaseScheduler, settings: Settings) -> BaseScheduler:
    scheduler.configure(
        jobstores={
            "default": SQLAlchemyJobStore(
                engine=make_engine(settings.database_url), tablename=JOBSTORE_TABLE
            )
        },
        job_defaults=JOB_DEFAULTS,
        timezone="UTC",
    )
    for job in jobs(settings):
        scheduler.add_job(
            job.func, job.trigger, id=job.id, replace_existing=True, **job.trigger_args
        )
    return scheduler


class SchedulerLock:
    """Held for the scheduler's lifetime; a second holder blocks in ``acquire``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._resource: Any = None
        self._engine: Engine | None = None

    def acquire(self, *, blocking: bool = True) -> bool:
        url = make_url(self.settings.database_url)
        if url.get_backend_name() == "postgresql":
            self._engine = make_engine(self.settings.database_url)
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            if blocking:
                connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
            elif not connection.execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY}
            ).scalar():
                connection.close()
                self._engine.dispose()
                self._engine = None
                return False
            self._resource = connection
            return True
        path = Path(url.database or "crm").with_suffix(".scheduler.lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._resource = handle
        return True

    def release(self) -> None:
        if isinstance(self._resource, Connection):
            # A pooled connection would keep a session-level lock after close(): unlock,
            # then discard the connection instead of returning it to the pool.
            self._resource.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
            self._resource.invalidate()
            self._resource.close()
        elif self._resource is not None:
            self._resource.close()  # closing the file releases the flock
        self._resource = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


class EmbeddedScheduler:
    """The scheduler inside ``crm serve``, unless another process already runs one."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lock = SchedulerLock(settings)
        self.scheduler: BackgroundScheduler | None = None

    def start(self) -> None:
        if not self.lock.acquire(blocking=False):
            log.info("another scheduler holds the lock; this process runs none")
            return
        self.scheduler = configure(BackgroundScheduler(), self.settings)
        self.scheduler.start()
        log.info("embedded scheduler started with %d jobs", len(jobs(self.settings)))

    def shutdown(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        self.lock.release()


def run_forever(settings: Settings) -> None:
    lock = SchedulerLock(settings)
    log.info("waiting for the scheduler lock")
    lock.acquire(blocking=True)
    try:
        log.info("scheduler running %d jobs", len(jobs(settings)))
        configure(BlockingScheduler(), settings).start()
    finally:
        lock.release()
