"""Customers' churned exits kept per day, so that a year's churn need not count the
distinct enrollments among its exits. An exit learns when the enrollment next left with
the same status (reentered_at, as a stay learns when its phase was entered again), so
that an enrollment that churned twice in a period is counted once, at its last churn.
The changes are appended by triggers on phase_transition (both databases); the totals
of today's exits are counted at once. See crm.journeys.daily and crm.core.tallies.

Revision ID: 394b9e01ddca
Revises: 47d277542ae0
Create Date: 2026-12-04 18:51:07.454511
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "394b9e01ddca"
down_revision: str | Sequence[str] | None = "47d277542ae0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The exits churn counts, and the columns that decide it and its keys.
CHURN = "{row}.to_phase_id IS NULL AND {row}.status = 'churned' AND {row}.left_as_customer"
COLUMNS = "journey_id, to_phase_id, status, left_as_customer, at, reentered_at"
# An exit's later exits with the same status (ordered by time, then id, as they were made).
LATER = """
    FROM phase_transition AS later
    WHERE later.enrollment_id = phase_transition.enrollment_id
    AND later.to_phase_id IS NULL AND later.status = phase_transition.status
    AND (later.at > phase_transition.at
         OR later.at = phase_transition.at AND later.id > phase_transition.id)
"""
NEXT_EXIT = f"""
    UPDATE phase_transition SET reentered_at = (SELECT min(later.at) {LATER})
    WHERE to_phase_id IS NULL AND EXISTS (SELECT 1 {LATER})
"""  # noqa: S608


def day(value: str, postgres: bool) -> str:
    return f"CAST(({value} AT TIME ZONE 'UTC') AS DATE)" if postgres else f"date({value})"


def keys(row: str, postgres: bool) -> str:
    never = "DATE '9999-12-31'" if postgres else "'9999-12-31'"
    return (
        f"{row}.journey_id, {day(f'{row}.at', postgres)}, "
        f"COALESCE({day(f'{row}.reentered_at', postgres)}, {never})"
    )


def part(row: str, sign: str, postgres: bool) -> str:
    """The exit's part taken away (OLD, sign "-") or added (NEW)."""
    return (
        "INSERT INTO churn_day_change (journey_id, day, next_churn_day, churned) "
        f"SELECT {keys(row, postgres)}, {sign}1 WHERE {CHURN.format(row=row)};"
    )


def sqlite_triggers() -> list[str]:
    old, new = part("OLD", "-", False), part("NEW", "", False)
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in COLUMNS.split(", "))
    return [
        f"CREATE TRIGGER churn_figures_insert AFTER INSERT ON phase_transition BEGIN {new} END",
        f"CREATE TRIGGER churn_figures_delete AFTER DELETE ON phase_transition BEGIN {old} END",
        f"CREATE TRIGGER churn_figures_update AFTER UPDATE OF {COLUMNS} ON phase_transition "
        f"WHEN {changed} BEGIN {old} {new} END",
    ]


def postgresql_triggers() -> list[str]:
    old, new = part("OLD", "-", True), part("NEW", "", True)
    unchanged = " AND ".join(f"OLD.{c} IS NOT DISTINCT FROM NEW.{c}" for c in COLUMNS.split(", "))
    return [
        f"""
        CREATE FUNCTION churn_figures() RETURNS trigger LANGUAGE plpgsql AS $$
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
        CREATE TRIGGER churn_figures AFTER INSERT OR DELETE OR UPDATE OF {COLUMNS}
        ON phase_transition FOR EACH ROW EXECUTE FUNCTION churn_figures()
        """,
    ]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "churn_day",
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("next_churn_day", sa.Date(), nullable=False),
        sa.Column("churned", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("journey_id", "day", "next_churn_day", name=op.f("pk_churn_day")),
    )
    op.create_table(
        "churn_day_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("next_churn_day", sa.Date(), nullable=False),
        sa.Column("churned", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_churn_day_change")),
    )
    op.create_index(
        op.f("ix_churn_day_change_journey_id"), "churn_day_change", ["journey_id"], unique=False
    )
    op.execute(NEXT_EXIT)
    # Not a batch rebuild of phase_transition, which would drop its triggers.
    _churn_index(
        ["journey_id", "status", "left_as_customer", "at", "reentered_at", "enrollment_id"]
    )
    for statement in postgresql_triggers() if postgres else sqlite_triggers():
        op.execute(statement)
    op.execute(
        "INSERT INTO churn_day (journey_id, day, next_churn_day, churned) "  # noqa: S608
        f"SELECT {keys('phase_transition', postgres)}, count(*) FROM phase_transition "
        f"WHERE {CHURN.format(row='phase_transition')} GROUP BY 1, 2, 3"
    )


def _churn_index(columns: list[str]) -> None:
    where = sa.text("to_phase_id IS NULL")
    op.drop_index(
        "ix_phase_transition_churn",
        table_name="phase_transition",
        sqlite_where=where,
        postgresql_where=where,
    )
    op.create_index(
        "ix_phase_transition_churn",
        "phase_transition",
        columns,
        unique=False,
        sqlite_where=where,
        postgresql_where=where,
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER churn_figures ON phase_transition")
        op.execute("DROP FUNCTION churn_figures()")
    else:
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER churn_figures_{name}")
    _churn_index(["journey_id", "status", "left_as_customer", "at", "enrollment_id"])
    op.execute("UPDATE phase_transition SET reentered_at = NULL WHERE to_phase_id IS NULL")
    op.drop_index(op.f("ix_churn_day_change_journey_id"), table_name="churn_day_change")
    op.drop_table("churn_day_change")
    op.drop_table("churn_day")
