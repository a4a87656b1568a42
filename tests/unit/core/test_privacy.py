"""DESIGN.md rule 7: the GDPR module derives export and erasure from column marks."""

from crm.core.db import Privacy
from crm.models import metadata


def test_every_column_has_a_privacy_class():
    unmarked = [
        f"{table.name}.{column.name}"
        for table in metadata.sorted_tables
        for column in table.columns
        if not isinstance(column.info.get("privacy"), Privacy)
    ]
    assert unmarked == []


def test_personal_and_secret_columns_are_marked_as_such():
    columns = metadata.tables["user"].columns
    assert columns["email"].info["privacy"] == Privacy.PERSONAL
    assert columns["name"].info["privacy"] == Privacy.PERSONAL
    assert columns["password_hash"].info["privacy"] == Privacy.SECRET
    assert metadata.tables["login_attempt"].columns["ip"].info["privacy"] == Privacy.PERSONAL
