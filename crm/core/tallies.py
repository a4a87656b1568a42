"""Figures kept as their rows change, for pages that would otherwise sum a large table
on every view (a board's column counts, the deals forecast).

Each kept figure has two tables: its totals at the last settling, and the changes since,
appended by database triggers on the rows it sums (so that cascades, bulk loads and
every service count alike; the migrations define them). Writers only append, so they
never wait for one another on a hot total. A reader adds the changes to the totals; a
scheduled job settles now and then. ``check`` compares a kept figure with a fresh count
and ``rebuild`` replaces it by one (`crm tallies check|rebuild`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

CHUNK = 50_000  # changes folded per statement

# A key's sums, by key: what a fresh count of the rows gives.
Counted = dict[tuple[Any, ...], list[int]]


@dataclass(frozen=True)
class Tally:
    name: str
    totals: Any
    changes: Any
    keys: list[str]
    sums: list[str]
    count: Callable[[Session], Counted]  # a fresh count of the rows


def read(
    session: Session,
    tally: Tally,
    *,
    where: Callable[[Any], list[Any]],
    by: list[str] | None = None,
) -> list[Any]:
    """Per key (or per the ``by`` part of it), the totals plus the changes since: rows of
    those keys and the sums, for the rows ``where(table)`` keeps."""
    by = tally.keys if by is None else by
    names = (*by, *tally.sums)
    both = union_all(
        *(
            select(*(getattr(table, name) for name in names)).where(*where(table))
            for table in (tally.totals, tally.changes)
        )
    ).subquery()
    keys = [both.c[k] for k in by]
    sums = [func.sum(both.c[s]).label(s) for s in tally.sums]
    return list(session.execute(select(*keys, *sums).group_by(*keys).order_by(*keys)))


def settle(session: Session, tally: Tally) -> int:
    """Fold the changes into the totals; how many were folded. Deleting with RETURNING
    takes exactly the changes this transaction sees: one committed meanwhile stays for
    the next settling. A chunk at a time, so that a bulk load's changes fit in memory."""
    names = (*tally.keys, *tally.sums)
    ids = col(tally.changes.id)
    added: Counted = {}
    folded = 0
    while True:
        last = session.scalar(select(ids).order_by(ids).offset(CHUNK - 1).limit(1))
        chunk = delete(tally.changes) if last is None else delete(tally.changes).where(ids <= last)
        rows = session.execute(chunk.returning(*(getattr(tally.changes, n) for n in names))).all()
        for row in rows:
            into = added.setdefault(tuple(row[: len(tally.keys)]), [0] * len(tally.sums))
            for i, value in enumerate(row[len(tally.keys) :]):
                into[i] += value
        folded += len(rows)
        if last is None:
            break
    if added:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        upsert = dialect.insert(tally.totals)
        upsert = upsert.on_conflict_do_update(
            index_elements=[getattr(tally.totals, k) for k in tally.keys],
            set_={
                s: col(getattr(tally.totals, s)) + getattr(upsert.excluded, s) for s in tally.sums
            },
        )
        session.execute(upsert, _rows(tally, added))
    return folded


def kept(session: Session, tally: Tally) -> Counted:
    """The whole kept figure, keys whose sums are all zero left out."""
    rows = read(session, tally, where=lambda table: [])
    found = {tuple(r[: len(tally.keys)]): [int(v) for v in r[len(tally.keys) :]] for r in rows}
    return {key: sums for key, sums in found.items() if any(sums)}


def check(session: Session, tally: Tally) -> list[str]:
    """Where the kept figure and a fresh count differ (nothing when they agree)."""
    have = kept(session, tally)
    want = {key: sums for key, sums in tally.count(session).items() if any(sums)}
    return [
        f"{dict(zip(tally.keys, key, strict=True))}: kept {have.get(key)}, counted {want.get(key)}"
        for key in sorted(set(have) | set(want), key=repr)
        if have.get(key) != want.get(key)
    ]


def rebuild(session: Session, tally: Tally) -> None:
    """Replace the kept figure by a fresh count. Take it while nobody writes the rows it
    sums: a change made meanwhile may be counted twice or not at all."""
    session.execute(delete(tally.changes))
    session.execute(delete(tally.totals))
    counted = {key: sums for key, sums in tally.count(session).items() if any(sums)}
    if counted:
        session.execute(insert(tally.totals), _rows(tally, counted))


def _rows(tally: Tally, sums: Counted) -> list[dict[str, Any]]:
    names = (*tally.keys, *tally.sums)
    return [dict(zip(names, (*key, *values), strict=True)) for key, values in sorted(sums.items())]
