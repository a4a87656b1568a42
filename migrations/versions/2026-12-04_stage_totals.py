"""A deal board's columns kept as deals change: deals and their amount per stage and
currency, the changes since (appended by triggers on deal, on both databases), and the
totals of today's deals at once. See crm.core.tallies.

Revision ID: 47d277542ae0
Revises: 5c3e81d0a7f2
Create Date: 2026-12-04 16:59:20.672451
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "47d277542ae0"
down_revision: str | Sequence[str] | None = "5c3e81d0a7f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A deal's part of its column, from the row in {row} (OLD or NEW), times {sign}.
PART = """
    INSERT INTO stage_total_change (stage_id, currency, deals, amount)
    VALUES ({row}.stage_id, {row}.currency, {sign}1, {sign}{row}.amount);
"""
COLUMNS = "stage_id, currency, amount"
FILL = """
    INSERT INTO stage_total (stage_id, currency, deals, amount)
    SELECT stage_id, currency, count(*), sum(amount) FROM deal GROUP BY stage_id, currency
"""


def parts() -> tuple[str, str]:
    """A deal's part taken away (OLD) and added (NEW)."""
    old, new = (PART.format(row=row, sign=sign) for row, sign in (("OLD", "-"), ("NEW", "")))
    return old, new


def sqlite_triggers() -> list[str]:
    old, new = parts()
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in COLUMNS.split(", "))
    return [
        f"CREATE TRIGGER deal_stage_total_insert AFTER INSERT ON deal BEGIN {new} END",
        f"CREATE TRIGGER deal_stage_total_delete AFTER DELETE ON deal BEGIN {old} END",
        f"CREATE TRIGGER deal_stage_total_update AFTER UPDATE OF {COLUMNS} ON deal "
        f"WHEN {changed} BEGIN {old} {new} END",
    ]


def postgresql_triggers() -> list[str]:
    old, new = parts()
    unchanged = " AND ".join(f"OLD.{c} IS NOT DISTINCT FROM NEW.{c}" for c in COLUMNS.split(", "))
    return [
        f"""
        CREATE FUNCTION deal_stage_total() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND {unchanged} THEN
                RETURN NULL;
            END IF;
            IF TG_OP IN ('UPDATE', 'DELETE') THEN {old} END IF;
            IF TG_OP IN ('UPDATE', 'INSERT') THEN {new} END IF;
            RETURN NULL;
        END $$
        """,
        f"""
        CREATE TRIGGER deal_stage_total AFTER INSERT OR DELETE OR UPDATE OF {COLUMNS}
        ON deal FOR EACH ROW EXECUTE FUNCTION deal_stage_total()
        """,
    ]


def figures() -> list[sa.Column]:
    return [
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("deals", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "stage_total",
        *figures(),
        sa.PrimaryKeyConstraint("stage_id", "currency", name=op.f("pk_stage_total")),
    )
    op.create_table(
        "stage_total_change",
        sa.Column("id", sa.Integer(), nullable=False),
        *figures(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_total_change")),
    )
    dialect = op.get_bind().dialect.name
    for statement in postgresql_triggers() if dialect == "postgresql" else sqlite_triggers():
        op.execute(statement)
    op.execute(FILL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER deal_stage_total ON deal")
        op.execute("DROP FUNCTION deal_stage_total()")
    else:
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER deal_stage_total_{name}")
    op.drop_table("stage_total_change")
    op.drop_table("stage_total")
