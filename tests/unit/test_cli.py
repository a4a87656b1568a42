import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlmodel import select
from typer.testing import CliRunner

from crm import cli
from crm.contacts import service as contact_service
from crm.contacts.models import ContactCreate
from crm.core import db, lists
from crm.core import settings as settings_module
from crm.deals import service as deal_service
from crm.deals.models import DealCreate
from crm.followups import rules as followup_rules
from crm.gdpr import service as gdpr_service
from crm.journeys import service as journey_service
from crm.journeys.models import Enrollment, EnrollmentCreate, PhaseCount
from crm.touchpoints import service as touchpoint_service
from crm.touchpoints.models import Channel
from crm.users import service as user_service
from tests.conftest import fresh_database


@pytest.fixture
def crm(tmp_path, monkeypatch):
    """Runs `crm ...` against a fresh database, as a user would from a shell."""
    with fresh_database(tmp_path, "cli") as url:
        monkeypatch.setenv("CRM_DATABASE_URL", url)
        monkeypatch.setenv("CRM_VAR_DIR", str(tmp_path))
        # `crm serve` sets it for its workers; here it must not outlive the test and
        # turn the other tests' /metrics into an empty multiprocess collection.
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
        settings_module.get_settings.cache_clear()
        db.default_engine.cache_clear()
        runner = CliRunner()

        def run(*args: str):
            return runner.invoke(cli.app, list(args))

        assert run("migrate").exit_code == 0
        yield run
        db.default_engine().dispose()
        settings_module.get_settings.cache_clear()
        db.default_engine.cache_clear()


def test_init_creates_the_first_admin_once_and_prints_the_password(crm):
    first = crm("init", "--email", "boss@example.com")
    assert first.exit_code == 0, first.output
    password = first.output.split("password:")[1].split()[0]
    with db.job_session(db.default_engine()) as session:
        user = user_service.authenticate(
            session, email="boss@example.com", password=password, ip="127.0.0.1", secret_key="k"
        )
        assert user is not None and {r.value for r in user.roles} == {"admin"}
    second = crm("init")
    assert second.exit_code == 0 and "nothing to do" in second.output
    assert "password" not in second.output


def test_create_user_with_several_roles_and_a_generated_password(crm):
    result = crm(
        "create-user",
        "--email",
        "am@example.com",
        "--name",
        "Ann",
        "--role",
        "account_manager",
        "--role",
        "dpo",
    )
    assert result.exit_code == 0, result.output
    assert "password:" in result.output
    with db.job_session(db.default_engine()) as session:
        user = user_service.get_user_by_email(session, email="am@example.com")
        assert {r.value for r in user.roles} == {"account_manager", "dpo"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "bad", "--name", "X", "--role", "dpo"], "email"),
        (
            ["--email", "a@example.com", "--name", "X", "--role", "dpo", "--password", "short"],
            "password",
        ),
    ],
)
def test_create_user_reports_bad_input_without_a_traceback(crm, args, message):
    result = crm("create-user", *args)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_create_user_refuses_an_unknown_role(crm):
    result = crm("create-user", "--email", "a@example.com", "--name", "X", "--role", "king")
    assert result.exit_code == 2


def test_create_user_refuses_a_duplicate(crm):
    crm("create-user", "--email", "dup@example.com", "--name", "X", "--role", "dpo")
    result = crm("create-user", "--email", "DUP@example.com", "--name", "Y", "--role", "dpo")
    assert result.exit_code == 1 and "already exists" in result.output


def test_create_token_prints_a_working_token(crm):
    crm("create-user", "--email", "api@example.com", "--name", "Api", "--role", "sales_rep")
    result = crm("create-token", "--email", "api@example.com", "--name", "etl")
    assert result.exit_code == 0
    secret = result.output.strip()
    with db.job_session(db.default_engine()) as session:
        assert user_service.token_for_secret(session, secret=secret)[1].email == "api@example.com"
    assert crm("create-token", "--email", "nobody@example.com").exit_code == 1


def test_demo_adds_users_and_a_living_crm_once(crm):
    first = crm("demo", "--contacts", "40")
    assert first.exit_code == 0, first.output
    assert "The follow-up rules created" in first.output
    again = crm("demo", "--contacts", "40")
    assert again.exit_code == 0 and "no demo customers added" in again.output
    assert "demo user" not in again.output
    with db.job_session(db.default_engine()) as session:
        assert user_service.count_users(session) == len(cli.DEMO_USERS)
        contacts, _ = contact_service.list_contacts(session, limit=200)
        assert len(contacts) == 40
        touchpoints, _ = touchpoint_service.list_touchpoints(session, limit=200)
        assert len(touchpoints) == 200  # a full page of the 400
        assert len({t.channel_id for t in touchpoints}) > 5
        assert len({t.sentiment for t in touchpoints}) > 3
        owned = {c.owner_id for c in contacts}
        assert owned <= {u.id for u in user_service.list_users(session)}
        assert contact_service.list_contacts(session, q=contacts[0].last_name.lower())[0]
        # Everyone is in the Classic journey, each enrolment as its history left it.
        enrollments = session.exec(select(Enrollment)).all()
        assert {e.contact_id for e in enrollments if e.contact_id} == {c.id for c in contacts}
        assert {e.status for e in enrollments} >= {"active", "lost"}
        for enrollment in enrollments:
            history = journey_service.transitions_of(session, enrollment=enrollment)
            assert history[0].from_phase_id is None and history[0].to_phase_id is not None
            entered = [t for t in history if t.to_phase_id]
            assert (enrollment.phase_id, enrollment.phase_since) == (
                entered[-1].to_phase_id,
                entered[-1].at,
            )
            assert enrollment.status == history[-1].status
            assert [t.until for t in history] == [t.at for t in history[1:]] + [None]


def enrolled(session, phase_key: str, last_name: str, at: datetime | None = None) -> int:
    """A new contact enrolled in the first journey's phase ``phase_key``; the phase's id."""
    contact = contact_service.create_contact(
        session, data=ContactCreate(first_name="Test", last_name=last_name), actor_id=None
    )
    journey = journey_service.list_journeys(session)[0]
    phase = next(p for p in journey_service.phases_of(session, journey) if p.key == phase_key)
    data = EnrollmentCreate(journey_id=journey.id, phase_id=phase.id, contact_id=contact.id, at=at)
    journey_service.enroll(session, data=data, actor_id=None)
    return phase.id


def test_followups_run_as_of_a_moment(crm):
    assert crm("init", "--email", "boss@example.com").exit_code == 0
    with db.job_session(db.default_engine()) as session:
        enrolled(session, "retention", "Run", at=datetime(2026, 1, 1, tzinfo=UTC))
    # the default onboarding check-in comes 14 days into retention
    before = crm("followups", "run", "--as-of", "2026-01-14T23:00:00+00:00")
    assert (before.exit_code, before.output.strip()) == (0, "0 follow-ups created")
    at = crm("followups", "run", "--as-of", "2026-01-15T00:00:00+00:00")
    assert at.output.strip() == "1 follow-ups created"
    assert (
        crm("followups", "run", "--as-of", "2026-01-15T00:00:00+00:00").output.strip()
        == "0 follow-ups created"
    )
    assert crm("followups", "run", "--as-of", "tomorrow").exit_code == 2
    assert crm("followups", "run", "--as-of", "2026-01-15T00:00:00").exit_code == 2


def test_replay_erasures_after_restoring_an_older_backup(crm, tmp_path):
    import json

    from crm.contacts import service as contact_service
    from crm.contacts.models import ContactCreate

    with db.job_session(db.default_engine()) as session:
        back = contact_service.create_contact(
            session, data=ContactCreate(first_name="Back", last_name="Wiederkehr"), actor_id=None
        )
        back_id = back.id
    log = tmp_path / "erasures.jsonl"
    log.write_text(
        json.dumps({"erasure_id": 1, "contact_id": back_id, "erased_at": "2026-12-01T10:00"})
        + "\n"
        + json.dumps({"erasure_id": 2, "contact_id": 999_999, "erased_at": "2026-12-01T11:00"})
        + "\n"
    )
    result = crm("gdpr", "replay-erasures")
    assert result.exit_code == 0, result.output
    assert "2 erasures in the log; 1 contacts were back" in result.output
    with db.job_session(db.default_engine()) as session:
        assert contact_service.list_contacts(session)[0] == []
        if session.get_bind().dialect.name == "postgresql":  # nor the words they were found by
            words = session.execute(text("SELECT word FROM search_word")).scalars().all()
            assert "wiederkehr" not in words
    assert "0 contacts were back" in crm("gdpr", "replay-erasures").output


def test_backup_and_restore_round_trip_and_replay_the_erasures_since(crm, tmp_path):
    from crm.contacts import service as contact_service
    from crm.contacts.models import ContactCreate
    from crm.gdpr import erasure

    def add(name):
        with db.job_session(db.default_engine()) as session:
            return contact_service.create_contact(
                session, data=ContactCreate(first_name=name, last_name="Round"), actor_id=None
            ).id

    def names():
        with db.job_session(db.default_engine()) as session:
            contacts, _ = contact_service.list_contacts(session, limit=50)
            return sorted(c.first_name for c in contacts)

    add("Kept")
    gone = add("Erased")
    backup_file = tmp_path / "backups" / "crm.backup"
    made = crm("backup", str(backup_file))
    assert made.exit_code == 0, made.output
    assert backup_file.stat().st_size > 0
    add("Later")
    with db.job_session(db.default_engine()) as session:
        contact = contact_service.get_contact(session, contact_id=gone)
        erased = erasure.erase_contact(
            session, contact=contact, request_id=None, keep_consents_on=None, actor_id=None
        )
    erasure.log_erasure(erased.tombstone, log_path=tmp_path / "erasures.jsonl")
    assert names() == ["Kept", "Later"]
    db.default_engine().dispose()  # the CRM is stopped for a restore
    restored = crm("restore", str(backup_file))
    assert restored.exit_code == 0, restored.output
    assert "1 contacts were back and are erased again" in restored.output
    assert names() == ["Kept"]  # as backed up, less the erasure logged since
    missing = crm("restore", str(tmp_path / "nothing-here"))
    assert missing.exit_code == 1 and "There is no backup at" in missing.output


def test_serve_refuses_a_cpu_the_machine_lacks_and_pinning_several_workers(crm):
    missing = max(os.sched_getaffinity(0)) + 1
    result = crm("serve", "--cpu", str(missing))
    assert result.exit_code == 2
    assert f"CPU {missing} is not available here" in result.output
    several = crm("serve", "--cpu", "0", "--workers", "2")
    assert several.exit_code == 2
    assert "pins one worker" in several.output


def test_serve_leaves_the_request_lines_to_the_request_log(crm, monkeypatch):
    import uvicorn

    from crm import main

    served = {}
    monkeypatch.setattr(main, "serving_app", lambda **_: "the app")
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(options, app=app))
    assert crm("serve", "--port", "8123").exit_code == 0
    # uvicorn's access line would carry the query string and the client's address
    assert served["app"] == "the app" and served["access_log"] is False
    assert served["port"] == 8123


def test_pin_to_cpu_keeps_the_process_and_its_threads_on_that_cpu():
    # In a child process: the test run itself must stay free to use every CPU.
    code = (
        "import os, threading; from crm.cli import pin_to_cpu; pin_to_cpu({cpu}); "
        "seen = []; t = threading.Thread(target=lambda: seen.append(os.sched_getaffinity(0))); "
        "t.start(); t.join(); print(sorted(os.sched_getaffinity(0)), sorted(seen[0]))"
    )
    cpu = max(os.sched_getaffinity(0))
    done = subprocess.run(
        [sys.executable, "-c", code.format(cpu=cpu)], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == [f"[{cpu}]", f"[{cpu}]"]


def test_tallies_check_finds_a_wrong_kept_figure_and_rebuild_mends_it(crm):
    assert crm("init", "--email", "boss@example.com").exit_code == 0
    with db.job_session(db.default_engine()) as session:
        phase_id = enrolled(session, "awareness", "Tally")
        deal_service.create_deal(
            session, data=DealCreate(title="Tally deal", amount="100"), actor_id=None
        )
    agrees = crm("tallies", "check")
    assert agrees.exit_code == 0, agrees.output
    assert agrees.output.splitlines() == [
        "journey board counts: agrees",
        "deals forecast: agrees",
        "deal board columns: agrees",
        "journey map touchpoints per day: agrees",
        "stays begun per day: agrees",
        "stays ended per day: agrees",
        "enrollments begun per day: agrees",
        "customers bought and left per day: agrees",
        "customers churned per day: agrees",
    ]
    with db.job_session(db.default_engine()) as session:
        session.add(PhaseCount(phase_id=phase_id, active=5))  # as if a trigger had been lost
    differs = crm("tallies", "check")
    assert differs.exit_code == 1
    assert "journey board counts: differs" in differs.output
    assert f"{{'phase_id': {phase_id}}}: kept [6], counted [1]" in differs.output
    assert crm("tallies", "rebuild").exit_code == 0
    assert crm("tallies", "check").exit_code == 0


def test_init_names_what_it_seeds_in_the_installations_language(crm, monkeypatch):
    monkeypatch.setenv("CRM_DEFAULT_LANGUAGE", "de")
    settings_module.get_settings.cache_clear()
    assert crm("init").exit_code == 0
    with db.job_session(db.default_engine()) as session:
        journey = journey_service.classic_journey(session)
        assert journey is not None and journey.name == "Klassisch"
        phases = journey_service.phases_of(session, journey)
        assert [p.name for p in phases[:2]] == ["Aufmerksamkeit", "Abwägung"]
        assert phases[0].key == "awareness"  # keys stay what rules and imports name
        pipeline = deal_service.list_pipelines(session)[0]
        assert pipeline.name == "Vertrieb"
        assert deal_service.stages_of(session, pipeline)[0].name == "Qualifiziert"
        channels = {c.key: c.name for c in lists.entries(session, Channel)}
        assert channels["call"] == "Anruf"
        rules = {r.name: r.title_template for r in followup_rules.list_rules(session)}
        assert rules["Onboarding-Check-in"] == "Onboarding-Check-in mit {name}"
        purposes = {p.key: p.name for p in gdpr_service.list_purposes(session)}
        assert purposes["customer_relationship"] == "Kundenbeziehung"
