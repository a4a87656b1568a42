"""The deals forecast kept as deals change: totals per pipeline, month and currency,
the changes since (appended by triggers on deal and on a stage's probability, on both
databases), and the totals of today's open deals at once. See crm.core.tallies.

Revision ID: dc5d19f529fb
Revises: ccf0ca410ff0
Create Date: 2026-12-02 18:55:03.317900
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "dc5d19f529fb"
down_revision: str | Sequence[str] | None = "ccf0ca410ff0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The month of expected close of the deal in {row}, on each database.
MONTH = {
    "sqlite": "substr({row}.expected_close_date, 1, 7)",
    "postgresql": "to_char({row}.expected_close_date, 'YYYY-MM')",
}
# A deal's part of the forecast, from the row in {row} (OLD or NEW), times {sign}.
PART = """
    INSERT INTO forecast_change (pipeline_id, month, currency, deals, amount, weighted)
    SELECT {row}.pipeline_id, coalesce({month}, ''), {row}.currency, {sign}1, {sign}{row}.amount,
           {sign}{row}.amount * coalesce({row}.probability, s.probability)
    FROM deal_stage AS s WHERE s.id = {row}.stage_id AND {row}.status = 'open';
"""
COLUMNS = "status, amount, probability, stage_id, expected_close_date, currency, pipeline_id"
# A stage's new probability changes the weight of its open deals without one of their own.
STAGE_PART = """
    INSERT INTO forecast_change (pipeline_id, month, currency, deals, amount, weighted)
    SELECT d.pipeline_id, coalesce({month}, ''), d.currency, 0, 0,
           d.amount * (NEW.probability - OLD.probability)
    FROM deal AS d
    WHERE d.stage_id = NEW.id AND d.status = 'open' AND d.probability IS NULL;
"""
# Today's open deals, at once.
FILL = """
    INSERT INTO forecast_total (pipeline_id, month, currency, deals, amount, weighted)
    SELECT d.pipeline_id, coalesce({month}, ''), d.currency, count(*), sum(d.amount),
           sum(d.amount * coalesce(d.probability, s.probability))
    FROM deal AS d JOIN deal_stage AS s ON s.id = d.stage_id
    WHERE d.status = 'open'
    GROUP BY d.pipeline_id, coalesce({month}, ''), d.currency
"""


def parts(dialect: str) -> tuple[str, str, str]:
    """A deal's part taken away (OLD) and added (NEW), and a stage's change."""
    old, new = (
        PART.format(row=row, sign=sign, month=MONTH[dialect].format(row=row))
        for row, sign in (("OLD", "-"), ("NEW", ""))
    )
    return old, new, STAGE_PART.format(month=MONTH[dialect].format(row="d"))


def sqlite_triggers() -> list[str]:
    old, new, stage = parts("sqlite")
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in COLUMNS.split(", "))
    return [
        f"CREATE TRIGGER deal_forecast_insert AFTER INSERT ON deal BEGIN {new} END",
        f"CREATE TRIGGER deal_forecast_delete AFTER DELETE ON deal BEGIN {old} END",
        f"CREATE TRIGGER deal_forecast_update AFTER UPDATE OF {COLUMNS} ON deal "
        f"WHEN {changed} BEGIN {old} {new} END",
        "CREATE TRIGGER deal_stage_forecast AFTER UPDATE OF probability ON deal_stage "
        f"WHEN OLD.probability IS NOT NEW.probability BEGIN {stage} END",
    ]


def postgresql_triggers() -> list[str]:
    old, new, stage = parts("postgresql")
    unchanged = " AND ".join(f"OLD.{c} IS NOT DISTINCT FROM NEW.{c}" for c in COLUMNS.split(", "))
    return [
        f"""
        CREATE FUNCTION deal_forecast() RETURNS trigger LANGUAGE plpgsql AS $$
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
        CREATE TRIGGER deal_forecast AFTER INSERT OR DELETE OR UPDATE OF {COLUMNS}
        ON deal FOR EACH ROW EXECUTE FUNCTION deal_forecast()
        """,
        f"""
        CREATE FUNCTION deal_stage_forecast() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.probability IS DISTINCT FROM NEW.probability THEN {stage} END IF;
            RETURN NULL;
        END $$
        """,
        """
        CREATE TRIGGER deal_stage_forecast AFTER UPDATE OF probability ON deal_stage
        FOR EACH ROW EXECUTE FUNCTION deal_stage_forecast()
        """,
    ]


def figures() -> list[sa.Column]:
    return [
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("month", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("deals", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("weighted", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "forecast_change",
        sa.Column("id", sa.Integer(), nullable=False),
        *figures(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_change")),
    )
    op.create_table(
        "forecast_total",
        *figures(),
        sa.PrimaryKeyConstraint("pipeline_id", "month", "currency", name=op.f("pk_forecast_total")),
    )
    dialect = op.get_bind().dialect.name
    for statement in postgresql_triggers() if dialect == "postgresql" else sqlite_triggers():
        op.execute(statement)
    op.execute(FILL.format(month=MONTH[dialect].format(row="d")))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER deal_stage_forecast ON deal_stage")
        op.execute("DROP FUNCTION deal_stage_forecast()")
        op.execute("DROP TRIGGER deal_forecast ON deal")
        op.execute("DROP FUNCTION deal_forecast()")
    else:
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER deal_forecast_{name}")
        op.execute("DROP TRIGGER deal_stage_forecast")
    op.drop_table("forecast_total")
    op.drop_table("forecast_change")
