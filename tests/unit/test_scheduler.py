import os
import queue
import subprocess
import sys
import threading
import time
from datetime import timedelta
from importlib import import_module

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from crm import scheduler as crm_scheduler
from crm.scheduler import SchedulerLock, configure, jobs
from tests.conftest import fresh_database, make_settings


@pytest.fixture
def job_settings(tmp_path):
    """Settings for a fresh, migrated database."""
    from alembic import command

    from crm.cli import alembic_config

    with fresh_database(tmp_path, "scheduler") as url:
        command.upgrade(alembic_config(url), "head")
        yield make_settings(tmp_path, url)


def test_every_job_names_an_importable_function(job_settings):
    for job in jobs(job_settings):
        module, _, name = job.func.partition(":")
        assert callable(getattr(import_module(module), name)), job.func


def test_jobs_are_stored_once_with_their_ids_across_restarts(job_settings):
    for _restart in range(2):
        scheduler = configure(BackgroundScheduler(), job_settings)
        scheduler.start(paused=True)
        try:
            stored = scheduler.get_jobs()
        finally:
            scheduler.shutdown(wait=False)
        assert sorted(job.id for job in stored) == sorted(job.id for job in jobs(job_settings))
        for job in stored:
            assert job.coalesce is True and job.misfire_grace_time >= 3600


def test_a_second_scheduler_does_not_get_the_lock(job_settings):
    first, second = SchedulerLock(job_settings), SchedulerLock(job_settings)
    assert first.acquire(blocking=False)
    try:
        assert not second.acquire(blocking=False)
    finally:
        first.release()
    assert second.acquire(blocking=False)
    second.release()


def test_the_embedded_scheduler_stands_aside_when_another_runs(job_settings):
    holder = SchedulerLock(job_settings)
    assert holder.acquire(blocking=False)
    embedded = crm_scheduler.EmbeddedScheduler(job_settings)
    try:
        embedded.start()
        assert embedded.scheduler is None
    finally:
        embedded.shutdown()
        holder.release()
    embedded.start()
    try:
        assert embedded.scheduler is not None and embedded.scheduler.running
    finally:
        embedded.shutdown()


def test_the_rules_interval_is_a_setting(job_settings):
    every_quarter = job_settings.model_copy(update={"followup_interval_minutes": 15})
    scheduler = configure(BackgroundScheduler(), every_quarter)
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job("followups.evaluate_rules")
    finally:
        scheduler.shutdown(wait=False)
    assert job.trigger.interval == timedelta(minutes=15)


class SchedulerProcess:
    """``crm scheduler`` in a process of its own, its log read line by line."""

    def __init__(self, settings):
        env = {
            **os.environ,
            "CRM_DATABASE_URL": settings.database_url,
            "CRM_VAR_DIR": str(settings.var_dir),
            "CRM_SECRET_KEY": settings.secret_key,
            "CRM_ENVIRONMENT": "test",
            "PYTHONUNBUFFERED": "1",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from crm.cli import app; app()", "scheduler"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stderr:
            self.lines.put(line)

    def says(self, words, *, within):
        """Whether the process logs ``words`` within ``within`` seconds."""
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            try:
                if words in self.lines.get(timeout=left):
                    return True
            except queue.Empty:
                break
        return False

    def stop(self):
        self.process.kill()
        self.process.wait(timeout=10)


def test_a_second_scheduler_process_stands_by_and_takes_over_when_the_first_dies(job_settings):
    first = SchedulerProcess(job_settings)
    second = None
    try:
        assert first.says("scheduler running", within=60)
        second = SchedulerProcess(job_settings)
        assert second.says("waiting for the scheduler lock", within=60)
        assert not second.says("scheduler running", within=3)  # it stands by
        first.stop()  # killed: no clean release, the lock goes with the process
        assert second.says("scheduler running", within=60)
    finally:
        first.stop()
        if second:
            second.stop()
