"""Re-pointing every reference from one row to another, for merging duplicates."""

from sqlalchemy import delete, select, tuple_, update
from sqlmodel import Session, SQLModel


def repoint_references(session: Session, *, table: str, old_id: int, new_id: int) -> list[str]:
    """Point every foreign key that references ``table``.id at ``new_id`` instead of
    ``old_id``, in whatever table declares it: tables added later are covered too.
    Returns the columns that were touched, as ``table.column``."""
    touched = []
    for other in SQLModel.metadata.sorted_tables:
        for fk in other.foreign_keys:
            if fk.column.table.name == table and fk.column.name == "id":
                rest = [c for c in other.primary_key.columns if c is not fk.parent]
                if fk.parent.primary_key and rest:
                    # A link table (contact_tag): links the new row already has would
                    # collide, so the old row's copies of them go.
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
