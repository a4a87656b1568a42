"""The ``crm`` command line."""

import os
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from alembic import command
from alembic.config import Config
from pydantic import ValidationError

from crm.core.db import default_engine, job_session, utcnow
from crm.core.errors import CRMError
from crm.core.settings import ROOT, get_settings
from crm.deals import service as deal_service
from crm.followups import rules as followup_rules
from crm.gdpr import service as gdpr_service
from crm.journeys import service as journey_service
from crm.touchpoints import service as touchpoint_service
from crm.users import service as user_service
from crm.users.models import Role, UserCreate

app = typer.Typer(
    help="A lightweight CRM that follows customers through their journey.", no_args_is_help=True
)

DEMO_PASSWORD = "demo-password"  # noqa: S105 (demo accounts are meant to be known)
DEMO_USERS = [
    ("sales@example.com", "Sam Sales", Role.SALES_REP),
    ("accounts@example.com", "Alex Accounts", Role.ACCOUNT_MANAGER),
    ("privacy@example.com", "Dana Privacy", Role.DPO),
]


def alembic_config(url: str | None = None) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url or get_settings().database_url)
    return config


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)


@app.command()
def migrate(revision: str = "head") -> None:
    """Bring the database schema up to date."""
    command.upgrade(alembic_config(), revision)


@app.command()
def init(
    email: Annotated[
        str, typer.Option(help="E-mail of the first administrator")
    ] = "admin@example.com",
) -> None:
    """Seed the default lists, and create the first administrator if there is no user."""
    language = get_settings().default_language
    with job_session(default_engine()) as session:
        touchpoint_service.seed_defaults(session, language=language)
        journey_service.seed_defaults(session, language=language)
        deal_service.seed_defaults(session, language=language)
        followup_rules.seed_default_rules(session, language=language)
        gdpr_service.seed_defaults(session, language=language)
        if user_service.count_users(session):
            typer.echo("The CRM already has users; nothing to do.")
            return
        password = user_service.generate_password()
        data = UserCreate(email=email, name="Administrator", roles={Role.ADMIN})
        user_service.create_user(session, data=data, password=password, actor_id=None)
    typer.echo("Created the first administrator. This password is shown only once:")
    typer.echo(f"  e-mail:   {email}")
    typer.echo(f"  password: {password}")


@app.command("create-user")
def create_user(
    email: Annotated[str, typer.Option()],
    name: Annotated[str, typer.Option()],
    role: Annotated[list[Role], typer.Option(help="Repeat for several roles")],
    password: Annotated[str | None, typer.Option(help="Generated when left out")] = None,
) -> None:
    """Create a user with one or more roles."""
    chosen = password or user_service.generate_password()
    try:
        data = UserCreate(email=email, name=name, roles=set(role), password=chosen)
        with job_session(default_engine()) as session:
            user_service.create_user(session, data=data, password=chosen, actor_id=None)
    except ValidationError as exc:
        _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    except CRMError as exc:
        _fail(exc.message % exc.params if exc.params else exc.message)
    typer.echo(f"Created {email}.")
    if not password:
        typer.echo(f"password: {chosen}")


@app.command("create-token")
def create_token(
    email: Annotated[str, typer.Option()],
    name: Annotated[str, typer.Option(help="What the token is for")] = "cli",
) -> None:
    """Create an API token for a user and print it once."""
    with job_session(default_engine()) as session:
        user = user_service.get_user_by_email(session, email=email)
        if user is None or not user.is_active:
            _fail(f"No active user with the e-mail {email}.")
        _, secret = user_service.create_token(session, user=user, name=name)
    typer.echo(secret)


@app.command()
def demo(
    contacts: Annotated[int, typer.Option(min=1, max=200_000)] = 300,
) -> None:
    """Add demo data: a user for each role (password 'demo-password'), and companies,
    people and two years of touchpoints if the CRM has none yet."""
    from crm import demo as demo_data

    engine = default_engine()
    with job_session(engine) as session:
        owner_ids = []
        for email, name, role in DEMO_USERS:
            user = user_service.get_user_by_email(session, email=email)
            if user is None:
                user = user_service.create_user(
                    session,
                    data=UserCreate(email=email, name=name, roles={role}),
                    password=DEMO_PASSWORD,
                    actor_id=None,
                )
                typer.echo(f"demo user {email} / {DEMO_PASSWORD} ({role})")
            if role != Role.DPO:
                owner_ids.append(user.id)
    if demo_data.has_customers(engine):
        typer.echo("The CRM already has companies or contacts; no demo customers added.")
        return
    demo_data.generate(
        engine,
        contacts=contacts,
        companies=max(1, contacts // 5),
        touchpoints=contacts * 10,
        owner_ids=owner_ids,
        now=utcnow(),
    )
    typer.echo(f"Added {contacts} demo contacts with their companies and touchpoints.")
    from crm.followups.jobs import evaluate_rules

    # The planner need not wait for the scheduler's first run.
    run = evaluate_rules(lambda: job_session(engine))
    typer.echo(f"The follow-up rules created {run.created} follow-ups.")


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="PORT")] = 8000,
    workers: Annotated[int, typer.Option(help="More than one: run `crm scheduler` too")] = 1,
    cpu: Annotated[
        int | None,
        typer.Option(envvar="CRM_CPU", help="Keep the one worker on this CPU (see README)"),
    ] = None,
) -> None:
    """Serve the CRM; with one worker it also runs the scheduler."""
    import uvicorn

    from crm.core.logs import server_log_config

    settings = get_settings()
    options = {
        "host": host,
        "port": port,
        # uvicorn would believe a proxy on 127.0.0.1 unless told otherwise.
        "proxy_headers": bool(settings.forwarded_allow_ips.strip()),
        "forwarded_allow_ips": settings.forwarded_allow_ips.strip(),
        "log_config": server_log_config(),
        "access_log": False,  # the request log writes each request's line, without its query
    }
    share_metrics(settings.var_dir / "metrics")
    if cpu is not None:
        if workers != 1:
            raise typer.BadParameter("pins one worker; pin several with your process manager")
        pin_to_cpu(cpu)
    if workers == 1:
        from crm.main import serving_app

        uvicorn.run(serving_app(with_scheduler=settings.run_scheduler), **options)
    else:
        uvicorn.run("crm.main:serving_app", factory=True, workers=workers, **options)


def share_metrics(folder: Path) -> None:
    """Let every worker count into files in one folder, so that /metrics shows all of
    them summed. Before anything imports prometheus_client, which chooses its mode then;
    the folder is emptied: the figures count from this start."""
    folder = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(folder)))
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.db"):
        old.unlink()


def pin_to_cpu(cpu: int) -> None:
    """Keep this process (and the threads it starts) on one CPU. One worker's threads
    take turns at Python's interpreter lock; spread over several cores each turn is a
    hand-over between cores, which costs the list page about a quarter of its
    throughput (bench/RESULTS.md)."""
    available = sorted(os.sched_getaffinity(0))
    if cpu not in available:
        raise typer.BadParameter(f"CPU {cpu} is not available here; choose one of {available}")
    os.sched_setaffinity(0, {cpu})


@app.command()
def scheduler() -> None:
    """Run the scheduled jobs in this process (one scheduler at a time)."""
    import logging

    from crm.scheduler import run_forever

    logging.basicConfig(level=logging.INFO)
    run_forever(get_settings())


followups_app = typer.Typer(help="Follow-up rules.", no_args_is_help=True)
app.add_typer(followups_app, name="followups")


@followups_app.command("run")
def followups_run(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="ISO time with its zone; now if not given")
    ] = None,
) -> None:
    """Evaluate the follow-up rules once, as at a moment (for tests and support)."""
    from crm.followups.jobs import evaluate_rules

    moment = None
    if as_of:
        try:
            moment = datetime.fromisoformat(as_of)
        except ValueError:
            raise typer.BadParameter(
                "give the time as ISO 8601, e.g. 2026-12-01T09:00+01:00"
            ) from None
        if moment.tzinfo is None:
            raise typer.BadParameter("give the time with its time zone")
    run = evaluate_rules(as_of=moment)
    if run.error:
        typer.echo(f"the run failed: {run.error}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{run.created} follow-ups created")


@app.command("backup")
def backup_database(path: Annotated[str, typer.Argument(help="Where the backup goes")]) -> None:
    """Back the database up while the CRM runs (SQLite's online backup, or pg_dump)."""
    from pathlib import Path

    from crm.core import backup

    try:
        backup.backup(get_settings().database_url, Path(path))
    except CRMError as exc:
        _fail(exc.message % exc.params if exc.params else exc.message)
    typer.echo(f"Backed up to {path}.")


@app.command("restore")
def restore_database(
    path: Annotated[str, typer.Argument(help="The backup to restore")],
    replay: Annotated[
        bool, typer.Option(help="Erase again whoever the erasure log says was erased since")
    ] = True,
) -> None:
    """Replace the database with a backup (stop the CRM first); then erase again every
    contact erased after the backup was taken."""
    from pathlib import Path

    from crm.core import backup

    try:
        backup.restore(get_settings().database_url, Path(path))
    except CRMError as exc:
        _fail(exc.message % exc.params if exc.params else exc.message)
    typer.echo(f"Restored from {path}.")
    if replay:
        replay_erasures(log=None)


gdpr_app = typer.Typer(help="Data protection.", no_args_is_help=True)
app.add_typer(gdpr_app, name="gdpr")


@gdpr_app.command("replay-erasures")
def replay_erasures(
    log: Annotated[
        str | None, typer.Option(help="The erasure log; var/erasures.jsonl if not given")
    ] = None,
) -> None:
    """After restoring an older backup: erase again every logged contact that is back."""
    from pathlib import Path

    from crm.gdpr import erasure

    settings = get_settings()
    path = Path(log) if log else settings.var_dir / "erasures.jsonl"
    entries = erasure.logged_erasures(path)
    engine = default_engine()
    with job_session(engine) as session:
        done = erasure.replay(session, entries=entries)
    for erased in done:
        erasure.forget_words(engine, erased)
    erasure.scrub_files(engine)
    typer.echo(
        f"{len(entries)} erasures in the log; {len(done)} contacts were back and are erased again."
    )


tallies_app = typer.Typer(help="Figures kept as their rows change.", no_args_is_help=True)
app.add_typer(tallies_app, name="tallies")


@tallies_app.command("check")
def check_tallies() -> None:
    """Compare each kept figure with a fresh count of its rows; exit 1 if one differs."""
    from crm.core import tallies
    from crm.kept import TALLIES

    differ = False
    with job_session(default_engine()) as session:
        for tally in TALLIES:
            found = tallies.check(session, tally)
            typer.echo(f"{tally.name}: {'differs' if found else 'agrees'}")
            for line in found:
                typer.echo(f"  {line}")
            differ = differ or bool(found)
    if differ:
        raise typer.Exit(1)


@tallies_app.command("rebuild")
def rebuild_tallies() -> None:
    """Count each kept figure afresh (while nobody writes: stop the CRM first)."""
    from crm.core import tallies
    from crm.kept import TALLIES

    with job_session(default_engine()) as session:
        for tally in TALLIES:
            tallies.rebuild(session, tally)
            typer.echo(f"{tally.name}: counted afresh")
