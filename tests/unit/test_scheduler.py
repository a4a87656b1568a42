from importlib import import_module

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from crm import scheduler as crm_scheduler
from crm.scheduler import JOBS, SchedulerLock, configure
from tests.conftest import fresh_database, make_settings


@pytest.fixture
def job_settings(tmp_path):
    """Settings for a fresh, migrated database."""
    from alembic import command

    from crm.cli import alembic_config

    with fresh_database(tmp_path, "scheduler") as url:
        command.upgrade(alembic_config(url), "head")
        yield make_settings(tmp_path, url)


def test_every_job_names_an_importable_function():
    for job in JOBS:
        module, _, name = job.func.partition(":")
        assert callable(getattr(import_module(module), name)), job.func


def test_jobs_are_stored_once_with_their_ids_across_restarts(job_settings):
    for _restart in range(2):
        scheduler = configure(BackgroundScheduler(), job_settings)
        scheduler.start(paused=True)
        try:
            jobs = scheduler.get_jobs()
        finally:
            scheduler.shutdown(wait=False)
        assert sorted(job.id for job in jobs) == sorted(job.id for job in JOBS)
        for job in jobs:
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
