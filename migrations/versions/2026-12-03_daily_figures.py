"""The journey reports' figures per UTC day, kept as their rows change: touchpoints per
phase, channel and initiator (from touchpoint_phase), stays by the day they began and
where they led, and by the day they ended and their length (from phase_transition),
enrollments by the day they began, status and days to purchase, and customers by the
days they bought and left (from enrollment). Enrollments learn their days to purchase
and exits whether they were a customer's. The
changes are appended by triggers on both databases; the totals of today's data are
counted at once. See crm.journeys.daily and crm.core.tallies.

Revision ID: 32f9395f03bf
Revises: da231196b859
Create Date: 2026-12-03 07:27:17.455340
"""

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "32f9395f03bf"
down_revision: str | Sequence[str] | None = "da231196b859"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUOTE = "'"  # a key that is a constant: not grouped by
# As crm.journeys.daily.LENGTHS on the day of this migration.
LENGTHS = (0, 1, 2, 3, 5, 7, 10, 14, 21, 30, 45, 60, 90, 120, 180, 270, 365)


@dataclass
class Kept:
    """One kept table: the table it counts, which rows (a condition on R, the old or
    new row), the columns it watches, and its keys and sums as expressions of R."""

    name: str
    source: str
    counts: str
    watched: list[str]
    keys: list[tuple[str, str]]
    sums: list[tuple[str, str]]

    def of(self, expression: str, row: str) -> str:
        return expression.replace("R.", f"{row}.")

    def append(self, row: str, sign: int) -> str:
        """The statement that appends the row's change, ``sign`` times its sums."""
        names = ", ".join(name for name, _ in [*self.keys, *self.sums])
        keys = [self.of(value, row) for _, value in self.keys]
        sums = [f"{sign} * ({self.of(value, row)})" for _, value in self.sums]
        return (
            f"INSERT INTO {self.name}_change ({names}) SELECT {', '.join([*keys, *sums])}"
            f" WHERE {self.of(self.counts, row)}"
        )

    def fill(self) -> str:
        """The statement that counts the rows there are."""
        keys = [self.of(value, self.source) for _, value in self.keys]
        sums = [f"SUM({self.of(value, self.source)})" for _, value in self.sums]
        names = ", ".join(name for name, _ in [*self.keys, *self.sums])
        return (
            f"INSERT INTO {self.name} ({names}) SELECT {', '.join([*keys, *sums])} "  # noqa: S608
            f"FROM {self.source} WHERE {self.of(self.counts, self.source)} "
            f"GROUP BY {', '.join(k for k in keys if not k.startswith(QUOTE))}"
        )


def _kept(postgres: bool) -> list[Kept]:
    def day(value: str) -> str:
        return f"CAST(({value} AT TIME ZONE 'UTC') AS DATE)" if postgres else f"date({value})"

    def flag(condition: str) -> str:
        return f"CASE WHEN {condition} THEN 1 ELSE 0 END"

    def band(days: str) -> str:
        whens = " ".join(
            f"WHEN {days} < {upper} THEN {lower}" for lower, upper in pairwise(LENGTHS)
        )
        return f"CASE {whens} ELSE {LENGTHS[-1]} END"

    never = "DATE '9999-12-31'" if postgres else "'9999-12-31'"
    return [
        Kept(
            "touchpoint_day",
            "touchpoint_phase",
            "TRUE" if postgres else "1",
            [
                "journey_id",
                "phase_id",
                "channel_id",
                "initiated_by",
                "occurred_at",
                "sentiment",
                "nps",
            ],
            [
                ("journey_id", "R.journey_id"),
                ("day", day("R.occurred_at")),
                ("phase_id", "R.phase_id"),
                ("channel_id", "R.channel_id"),
                ("initiated_by", "R.initiated_by"),
            ],
            [
                ("touchpoints", "1"),
                ("sentiment_sum", "COALESCE(R.sentiment, 0)"),
                ("sentiments", flag("R.sentiment IS NOT NULL")),
                ("promoters", flag("R.nps >= 9")),
                ("detractors", flag("R.nps <= 6")),
                ("answers", flag("R.nps IS NOT NULL")),
            ],
        ),
        Kept(
            "stay_start_day",
            "phase_transition",
            "R.to_phase_id IS NOT NULL",
            ["journey_id", "to_phase_id", "at", "reentered_at", "next_phase_id", "next_status"],
            [
                ("journey_id", "R.journey_id"),
                ("phase_id", "R.to_phase_id"),
                ("day", day("R.at")),
                ("reentered_day", f"COALESCE({day('R.reentered_at')}, {never})"),
                ("next_phase_id", "COALESCE(R.next_phase_id, 0)"),
                ("next_status", "COALESCE(R.next_status, '')"),
            ],
            [("stays", "1")],
        ),
        Kept(
            "stay_end_day",
            "phase_transition",
            "R.to_phase_id IS NOT NULL AND R.until IS NOT NULL",
            ["journey_id", "to_phase_id", "until", "days"],
            [
                ("journey_id", "R.journey_id"),
                ("phase_id", "R.to_phase_id"),
                ("day", day("R.until")),
                ("from_days", band("R.days")),
            ],
            [("stays", "1")],
        ),
        Kept(
            "enrollment_day",
            "enrollment",
            "TRUE" if postgres else "1",
            ["journey_id", "started_at", "status", "days_to_purchase"],
            [
                ("journey_id", "R.journey_id"),
                ("day", day("R.started_at")),
                ("status", "R.status"),
                (
                    "close_from_days",
                    "CASE WHEN R.days_to_purchase IS NULL THEN -1 "
                    f"ELSE {band('R.days_to_purchase')} END",
                ),
            ],
            [("enrollments", "1")],
        ),
        Kept(
            "customer_day",
            "enrollment",
            "R.purchased_at IS NOT NULL",
            ["journey_id", "purchased_at"],
            [("journey_id", "R.journey_id"), ("event", "'bought'"), ("day", day("R.purchased_at"))],
            [("customers", "1")],
        ),
        Kept(
            "customer_day",
            "enrollment",
            "R.purchased_at IS NOT NULL AND R.ended_at IS NOT NULL",
            ["journey_id", "purchased_at", "ended_at"],
            [("journey_id", "R.journey_id"), ("event", "'left'"), ("day", day("R.ended_at"))],
            [("customers", "1")],
        ),
    ]


# Per watched table, one trigger function (PostgreSQL) or three triggers (SQLite).
TRIGGERS = [
    ("touchpoint_phase", "touchpoint_day_figures"),
    ("phase_transition", "stay_figures"),
    ("enrollment", "enrollment_figures"),
]


def _watching(kept: list[Kept], table: str) -> tuple[list[Kept], list[str]]:
    mine = [k for k in kept if k.source == table]
    return mine, sorted({c for k in mine for c in k.watched})


def _sqlite_triggers() -> list[str]:
    statements = []
    for table, function in TRIGGERS:
        mine, watched = _watching(_kept(False), table)
        for event, head, rows in (
            ("insert", f"AFTER INSERT ON {table}", [("NEW", 1)]),
            ("delete", f"AFTER DELETE ON {table}", [("OLD", -1)]),
            (
                "update",
                f"AFTER UPDATE OF {', '.join(watched)} ON {table} WHEN "
                + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in watched),
                [("OLD", -1), ("NEW", 1)],
            ),
        ):
            body = "".join(f"    {k.append(row, sign)};\n" for row, sign in rows for k in mine)
            statements.append(f"CREATE TRIGGER {function}_{event} {head}\nBEGIN\n{body}END")
    return statements


def _postgresql_triggers() -> list[str]:
    statements = []
    for table, function in TRIGGERS:
        mine, watched = _watching(_kept(True), table)
        old = ", ".join(f"OLD.{c}" for c in watched)
        new = ", ".join(f"NEW.{c}" for c in watched)
        body = "".join(
            f"    IF TG_OP IN ({events}) THEN\n        {k.append(row, sign)};\n    END IF;\n"
            for row, sign, events in (
                ("OLD", -1, "'UPDATE', 'DELETE'"),
                ("NEW", 1, "'UPDATE', 'INSERT'"),
            )
            for k in mine
        )
        statements.append(
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            "BEGIN\n"
            f"    IF TG_OP = 'UPDATE' AND ({old}) IS NOT DISTINCT FROM ({new}) THEN\n"
            "        RETURN NULL;\n"
            "    END IF;\n"
            f"{body}"
            "    RETURN NULL;\n"
            "END $$"
        )
        statements.append(
            f"CREATE TRIGGER {function} AFTER INSERT OR DELETE OR UPDATE OF {', '.join(watched)}"
            f" ON {table} FOR EACH ROW EXECUTE FUNCTION {function}()"
        )
    return statements


def _add_columns(postgres: bool) -> None:
    """What the reports read beside the kept figures: each enrollment's days to its
    purchase (the median time to close walks them in order), and whether an exit was a
    customer's (churn counts those without reading enrollments)."""
    # ALTER TABLE ... ADD COLUMN, not a batch rebuild that would drop the triggers.
    op.add_column("enrollment", sa.Column("days_to_purchase", sa.Float(), nullable=True))
    days = (
        "EXTRACT(EPOCH FROM (purchased_at - started_at)) / 86400.0"
        if postgres
        else "julianday(purchased_at) - julianday(started_at)"
    )
    op.execute(
        f"UPDATE enrollment SET days_to_purchase = {days} WHERE purchased_at IS NOT NULL"  # noqa: S608
    )
    op.create_index(
        "ix_enrollment_to_purchase",
        "enrollment",
        ["journey_id", "days_to_purchase", "started_at"],
        unique=False,
        sqlite_where=sa.text("days_to_purchase IS NOT NULL"),
        postgresql_where=sa.text("days_to_purchase IS NOT NULL"),
    )
    op.add_column(
        "phase_transition",
        sa.Column("left_as_customer", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.execute(
        "UPDATE phase_transition SET left_as_customer = TRUE WHERE to_phase_id IS NULL "
        "AND EXISTS (SELECT 1 FROM enrollment WHERE enrollment.id = phase_transition.enrollment_id "
        "AND enrollment.purchased_at < phase_transition.at)"
    )
    op.create_index(
        "ix_phase_transition_churn",
        "phase_transition",
        ["journey_id", "status", "left_as_customer", "at", "enrollment_id"],
        unique=False,
        sqlite_where=sa.text("to_phase_id IS NULL"),
        postgresql_where=sa.text("to_phase_id IS NULL"),
    )


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    _add_columns(postgres)
    _create_tables()
    for statement in _postgresql_triggers() if postgres else _sqlite_triggers():
        op.execute(statement)
    for kept in _kept(postgres):
        op.execute(kept.fill())


def _create_tables() -> None:
    op.create_table(
        "customer_day",
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("event", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("journey_id", "event", "day", name=op.f("pk_customer_day")),
    )
    op.create_table(
        "customer_day_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("event", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_day_change")),
    )
    with op.batch_alter_table("customer_day_change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_day_change_journey_id"), ["journey_id"], unique=False
        )

    op.create_table(
        "enrollment_day",
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("close_from_days", sa.Integer(), nullable=False),
        sa.Column("enrollments", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "journey_id", "day", "status", "close_from_days", name=op.f("pk_enrollment_day")
        ),
    )
    op.create_table(
        "enrollment_day_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("close_from_days", sa.Integer(), nullable=False),
        sa.Column("enrollments", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollment_day_change")),
    )
    with op.batch_alter_table("enrollment_day_change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_enrollment_day_change_journey_id"), ["journey_id"], unique=False
        )

    op.create_table(
        "stay_end_day",
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("phase_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("from_days", sa.Integer(), nullable=False),
        sa.Column("stays", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "journey_id", "phase_id", "day", "from_days", name=op.f("pk_stay_end_day")
        ),
    )
    op.create_table(
        "stay_end_day_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("phase_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("from_days", sa.Integer(), nullable=False),
        sa.Column("stays", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stay_end_day_change")),
    )
    with op.batch_alter_table("stay_end_day_change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stay_end_day_change_journey_id"), ["journey_id"], unique=False
        )

    op.create_table(
        "stay_start_day",
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("phase_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reentered_day", sa.Date(), nullable=False),
        sa.Column("next_phase_id", sa.Integer(), nullable=False),
        sa.Column("next_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("stays", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "journey_id",
            "phase_id",
            "day",
            "reentered_day",
            "next_phase_id",
            "next_status",
            name=op.f("pk_stay_start_day"),
        ),
    )
    op.create_table(
        "stay_start_day_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("phase_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reentered_day", sa.Date(), nullable=False),
        sa.Column("next_phase_id", sa.Integer(), nullable=False),
        sa.Column("next_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("stays", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stay_start_day_change")),
    )
    with op.batch_alter_table("stay_start_day_change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stay_start_day_change_journey_id"), ["journey_id"], unique=False
        )

    op.create_table(
        "touchpoint_day",
        sa.Column("touchpoints", sa.Integer(), nullable=False),
        sa.Column("sentiment_sum", sa.Integer(), nullable=False),
        sa.Column("sentiments", sa.Integer(), nullable=False),
        sa.Column("promoters", sa.Integer(), nullable=False),
        sa.Column("detractors", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("phase_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("initiated_by", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.PrimaryKeyConstraint(
            "journey_id",
            "day",
            "phase_id",
            "channel_id",
            "initiated_by",
            name=op.f("pk_touchpoint_day"),
        ),
    )
    op.create_table(
        "touchpoint_day_change",
        sa.Column("touchpoints", sa.Integer(), nullable=False),
        sa.Column("sentiment_sum", sa.Integer(), nullable=False),
        sa.Column("sentiments", sa.Integer(), nullable=False),
        sa.Column("promoters", sa.Integer(), nullable=False),
        sa.Column("detractors", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("phase_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("initiated_by", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_touchpoint_day_change")),
    )
    with op.batch_alter_table("touchpoint_day_change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_touchpoint_day_change_journey_id"), ["journey_id"], unique=False
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, function in TRIGGERS:
            op.execute(f"DROP TRIGGER {function} ON {table}")
            op.execute(f"DROP FUNCTION {function}()")
    else:
        for _, function in TRIGGERS:
            for event in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER {function}_{event}")
    with op.batch_alter_table("touchpoint_day_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_touchpoint_day_change_journey_id"))

    op.drop_table("touchpoint_day_change")
    op.drop_table("touchpoint_day")
    with op.batch_alter_table("stay_start_day_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stay_start_day_change_journey_id"))

    op.drop_table("stay_start_day_change")
    op.drop_table("stay_start_day")
    with op.batch_alter_table("stay_end_day_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stay_end_day_change_journey_id"))

    op.drop_table("stay_end_day_change")
    op.drop_table("stay_end_day")
    with op.batch_alter_table("enrollment_day_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enrollment_day_change_journey_id"))

    op.drop_table("enrollment_day_change")
    op.drop_table("enrollment_day")
    with op.batch_alter_table("customer_day_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_day_change_journey_id"))

    op.drop_table("customer_day_change")
    op.drop_table("customer_day")
    op.drop_index(
        "ix_phase_transition_churn",
        table_name="phase_transition",
        sqlite_where=sa.text("to_phase_id IS NULL"),
        postgresql_where=sa.text("to_phase_id IS NULL"),
    )
    op.drop_column("phase_transition", "left_as_customer")
    op.drop_index(
        "ix_enrollment_to_purchase",
        table_name="enrollment",
        sqlite_where=sa.text("days_to_purchase IS NOT NULL"),
        postgresql_where=sa.text("days_to_purchase IS NOT NULL"),
    )
    op.drop_column("enrollment", "days_to_purchase")
