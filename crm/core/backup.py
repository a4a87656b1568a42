"""Backups of the whole database, taken while the CRM runs, and their restore.

SQLite: the online backup API copies a consistent snapshot page by page, writers wait
only for the moment of each step. PostgreSQL: ``pg_dump`` in its custom format, restored
by ``pg_restore``; both must be installed (the PostgreSQL client package).
"""

import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from sqlalchemy import make_url

from crm.core.errors import N_, CRMError


class BackupError(CRMError):
    status_code = 500


def _sqlite_file(url: str) -> Path:
    return Path(make_url(url).database or "")


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL as pg_dump and pg_restore take it (no driver in the scheme), and the
    password in their environment rather than on a command line others can read."""
    parsed = make_url(url)
    env = {**os.environ, **({"PGPASSWORD": parsed.password} if parsed.password else {})}
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            N_("%(tool)s is not installed: install the PostgreSQL client tools."), tool=name
        )
    return found


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)  # noqa: S603
    if done.returncode != 0:
        tool = Path(command[0]).name
        raise BackupError(N_("%(tool)s failed: %(error)s"), tool=tool, error=done.stderr[-500:])


def backup(database_url: str, path: Path) -> None:
    """A consistent copy of the database at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if make_url(database_url).get_backend_name() == "sqlite":
        with (
            closing(sqlite3.connect(_sqlite_file(database_url))) as source,
            closing(sqlite3.connect(path)) as copy,
        ):
            source.backup(copy)
        return
    url, env = _libpq(database_url)
    _run([_tool("pg_dump"), "--format=custom", f"--file={path}", url], env)


def restore(database_url: str, path: Path) -> None:
    """Replace the database's content with the backup at ``path``."""
    if not path.exists():
        raise BackupError(N_("There is no backup at %(path)s."), path=str(path))
    if make_url(database_url).get_backend_name() == "sqlite":
        with (
            closing(sqlite3.connect(path)) as source,
            closing(sqlite3.connect(_sqlite_file(database_url))) as live,
        ):
            source.backup(live)
        return
    url, env = _libpq(database_url)
    _run(
        [_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", f"--dbname={url}", str(path)],
        env,
    )
