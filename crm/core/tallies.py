"""Figures kept as their rows change, for pages that would otherwise sum a large table
on every view (a board's column counts, the deals forecast).

Each kept figure has two tables: its totals at the last settling, and the changes since,
appended by database triggers on the rows it sums (so that cascades, bulk loads and
every service count alike; the migrations define them). Writers only append, so they
never wait for one another on a hot total. A reader adds the changes to the totals; a
scheduled job settles now and then.
"""

from typing import Any

from sqlalchemy import delete, func, literal_column, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col


def read(
    session: Session, totals: Any, changes: Any, *, keys: list[str], sums: list[str], where: Any
) -> list[Any]:
    """Per key, the totals plus the changes since: rows of ``keys`` and ``sums``, for the
    rows ``where(table)`` keeps."""
    both = union_all(
        *(
            select(*(getattr(table, name) for name in (*keys, *sums))).where(*where(table))
            for table in (totals, changes)
        )
    ).subquery()
    return list(
        session.execute(
            select(*(both.c[k] for k in keys), *(func.sum(both.c[s]).label(s) for s in sums))
            .group_by(*(both.c[k] for k in keys))
            .order_by(*(both.c[k] for k in keys))
        )
    )


def settle(session: Session, totals: Any, changes: Any, *, keys: list[str], sums: list[str]) -> int:
    """Fold the changes into the totals; how many were folded. Deleting with RETURNING
    takes exactly the changes this transaction sees: one committed meanwhile stays for
    the next settling."""
    folded = session.execute(
        delete(changes).returning(*(getattr(changes, name) for name in (*keys, *sums)))
    ).all()
    added: dict[tuple[Any, ...], list[int]] = {}
    for row in folded:
        key, values = tuple(row[: len(keys)]), row[len(keys) :]
        into = added.setdefault(key, [0] * len(sums))
        for i, value in enumerate(values):
            into[i] += value
    rows = [
        dict(zip((*keys, *sums), (*key, *values), strict=True))
        for key, values in sorted(added.items())
    ]
    if rows:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        insert = dialect.insert(totals).values(rows)
        session.execute(
            insert.on_conflict_do_update(
                index_elements=[getattr(totals, k) for k in keys],
                set_={s: col(getattr(totals, s)) + literal_column(f"excluded.{s}") for s in sums},
            )
        )
    return len(folded)
