"""Every table that can hold something about a contact has an erasure rule: a new table
linked to contacts without one fails here (DESIGN.md rule 7)."""

from crm.core.db import Privacy
from crm.gdpr.subject import DERIVED, KINDS, TOMBSTONES, exported_columns
from crm.models import metadata

PERSONAL = (Privacy.PERSONAL, Privacy.FREE_TEXT)


def reachable_from_contact() -> set[str]:
    """The tables whose rows hang off a contact, directly or through other rows."""
    found, frontier = set(), {"contact"}
    while frontier:
        found |= frontier
        frontier = {
            table.name
            for table in metadata.sorted_tables
            for fk in table.foreign_keys
            if fk.column.table.name in found
            and table.name not in found
            # a link to staff or to a lookup is not a link to the person
            and fk.column.table.name != "user"
        }
    return found


def test_every_table_linked_to_a_contact_has_an_erasure_rule():
    covered = {kind.table.name for kind in KINDS} | DERIVED | TOMBSTONES
    unruled = [
        table
        for table in sorted(reachable_from_contact() - covered)
        if any(c.info["privacy"] in PERSONAL for c in metadata.tables[table].columns)
    ]
    assert unruled == []


def test_an_export_never_shows_secrets_or_staff():
    for kind in KINDS:
        for column in exported_columns(kind.table):
            assert column.info["privacy"] != Privacy.SECRET
            assert not any(fk.column.table.name == "user" for fk in column.foreign_keys)
