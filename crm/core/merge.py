"""Re-pointing every reference from one row to another, for merging duplicates."""

from sqlalchemy import Column, Table, UniqueConstraint, delete, select, tuple_, update
from sqlmodel import Session, SQLModel


def repoint_references(session: Session, *, table: str, old_id: int, new_id: int) -> list[str]:
    """Point every foreign key that references ``table``.id at ``new_id`` instead of
    ``old_id``, in whatever table declares it: tables added later are covered too.
    Where a key or unique constraint allows one row per referenced row and something
    else (a tag, a journey), the new row's own row wins and the old row's copy goes.
    Returns the columns that were touched, as ``table.column``."""
    touched = []
    for other in SQLModel.metadata.sorted_tables:
        for fk in other.foreign_keys:
            if fk.column.table.name == table and fk.column.name == "id":
                for rest in _unique_with(other, fk.parent):
                    held = select(*rest).where(fk.parent == new_id)
                    session.execute(
                        delete(other).where(fk.parent == old_id, tuple_(*rest).in_(held))
                    )
                result = session.execute(
                    update(other).where(fk.parent == old_id).values({fk.parent.name: new_id})
                )
                if result.rowcount:
                    touched.append(f"{other.name}.{fk.parent.name}")
    return touched


def _unique_with(table: Table, column: Column) -> list[list[Column]]:
    """The other columns of each unique key that ``column`` is part of."""
    keys = [table.primary_key] + [c for c in table.constraints if isinstance(c, UniqueConstraint)]
    return [
        [c for c in key.columns if c is not column]
        for key in keys
        if column in key.columns.values() and len(key.columns) > 1
    ]
