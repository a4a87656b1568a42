"""journey analytics and attribution

Transitions carry their journey, their next step and their length, and enrollments when
they first reached a purchase phase, so that analytics read index ranges; touchpoint_phase
holds the phase each touchpoint counts toward. All are filled from the history here.

Revision ID: c568422e45bf
Revises: 85e70222efc5
Create Date: 2026-12-02 00:21:00.969197
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import crm.core.db

revision: str = "c568422e45bf"
down_revision: str | Sequence[str] | None = "85e70222efc5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "touchpoint_phase",
        sa.Column("touchpoint_id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=False),
        sa.Column("phase_id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", crm.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("initiated_by", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("sentiment", sa.Integer(), nullable=True),
        sa.Column("nps", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollment.id"],
            name=op.f("fk_touchpoint_phase_enrollment_id_enrollment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["journey_id"], ["journey.id"], name=op.f("fk_touchpoint_phase_journey_id_journey")
        ),
        sa.ForeignKeyConstraint(
            ["phase_id"], ["phase.id"], name=op.f("fk_touchpoint_phase_phase_id_phase")
        ),
        sa.ForeignKeyConstraint(
            ["touchpoint_id"],
            ["touchpoint.id"],
            name=op.f("fk_touchpoint_phase_touchpoint_id_touchpoint"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("touchpoint_id", "journey_id", name=op.f("pk_touchpoint_phase")),
    )

    with op.batch_alter_table("phase_transition", schema=None) as batch_op:
        batch_op.add_column(sa.Column("journey_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("next_phase_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("next_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch_op.add_column(
            sa.Column("reentered_at", crm.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("days", sa.Float(), nullable=True))

    op.execute(
        "UPDATE phase_transition SET journey_id = "
        "(SELECT journey_id FROM enrollment WHERE enrollment.id = phase_transition.enrollment_id)"
    )
    op.execute(
        "UPDATE phase_transition SET next_phase_id = n.next_phase_id, next_status = n.next_status "
        "FROM (SELECT id, LEAD(id) OVER w AS next_id, LEAD(to_phase_id) OVER w AS next_phase_id, "
        "LEAD(status) OVER w AS next_status FROM phase_transition "
        "WINDOW w AS (PARTITION BY enrollment_id ORDER BY at, id)) AS n "
        "WHERE n.id = phase_transition.id AND n.next_id IS NOT NULL"
    )
    op.execute(
        "UPDATE phase_transition SET reentered_at = r.reentered_at "
        "FROM (SELECT id, LEAD(at) OVER (PARTITION BY enrollment_id, to_phase_id ORDER BY at, id) "
        "AS reentered_at FROM phase_transition WHERE to_phase_id IS NOT NULL) AS r "
        "WHERE r.id = phase_transition.id AND r.reentered_at IS NOT NULL"
    )
    length = (
        "julianday(until) - julianday(at)"
        if op.get_bind().dialect.name == "sqlite"
        else "EXTRACT(EPOCH FROM (until - at)) / 86400.0"
    )
    op.execute(f"UPDATE phase_transition SET days = {length} WHERE until IS NOT NULL")  # noqa: S608

    with op.batch_alter_table("phase_transition", schema=None) as batch_op:
        batch_op.alter_column("journey_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(
            "ix_phase_transition_ended",
            ["journey_id", "to_phase_id", "until", "days", "at", "enrollment_id", "next_status"],
            unique=False,
        )
        batch_op.create_index(
            "ix_phase_transition_entered",
            [
                "journey_id",
                "to_phase_id",
                "at",
                "next_phase_id",
                "next_status",
                "reentered_at",
                "status",
                "enrollment_id",
            ],
            unique=False,
        )
        batch_op.create_index(
            "ix_phase_transition_length",
            ["journey_id", "to_phase_id", "days", "until", "enrollment_id"],
            unique=False,
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_phase_transition_journey_id_journey"), "journey", ["journey_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_phase_transition_next_phase_id_phase"),
            "phase",
            ["next_phase_id"],
            ["id"],
        )

    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("purchased_at", crm.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("segment", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True)
        )
        batch_op.create_index(
            "ix_enrollment_segment", ["journey_id", "segment", "id"], unique=False
        )
        batch_op.create_index(
            "ix_enrollment_customers",
            ["journey_id", "purchased_at", "ended_at", "segment"],
            unique=False,
        )
        batch_op.create_index(
            "ix_enrollment_started",
            ["journey_id", "started_at", "status", "purchased_at", "segment"],
            unique=False,
        )
    op.execute(
        "UPDATE enrollment SET segment = COALESCE("
        "(SELECT segment FROM contact WHERE contact.id = enrollment.contact_id), "
        "(SELECT segment FROM company WHERE company.id = enrollment.company_id))"
    )
    op.execute(
        "UPDATE enrollment SET purchased_at = (SELECT min(t.at) FROM phase_transition t "
        "JOIN phase p ON p.id = t.to_phase_id "
        "WHERE t.enrollment_id = enrollment.id AND p.kind = 'purchase')"
    )

    # Each touchpoint toward the stay it fell into: the contact's own, else its company's.
    columns = (
        "touchpoint_id, journey_id, enrollment_id, phase_id, "
        "occurred_at, channel_id, initiated_by, sentiment, nps"
    )
    stays = (
        "SELECT t.id, s.journey_id, s.enrollment_id, s.to_phase_id, "
        "t.occurred_at, t.channel_id, t.initiated_by, t.sentiment, t.nps "
        "FROM touchpoint t JOIN enrollment e ON e.{subject}_id = t.{subject}_id "
        "JOIN phase_transition s ON s.enrollment_id = e.id AND s.to_phase_id IS NOT NULL "
        "AND s.at <= t.occurred_at AND (s.until IS NULL OR t.occurred_at < s.until)"
    )
    op.execute(f"INSERT INTO touchpoint_phase ({columns}) {stays.format(subject='contact')}")
    op.execute(
        f"INSERT INTO touchpoint_phase ({columns}) {stays.format(subject='company')} "  # noqa: S608 (constants)
        "WHERE NOT EXISTS (SELECT 1 FROM touchpoint_phase h "
        "WHERE h.touchpoint_id = t.id AND h.journey_id = s.journey_id)"
    )
    with op.batch_alter_table("touchpoint_phase", schema=None) as batch_op:
        batch_op.create_index(
            "ix_touchpoint_phase_map",
            [
                "journey_id",
                "phase_id",
                "channel_id",
                "initiated_by",
                "occurred_at",
                "sentiment",
                "nps",
                "enrollment_id",
            ],
            unique=False,
        )
        batch_op.create_index(
            "ix_touchpoint_phase_nps",
            ["journey_id", "occurred_at", "nps", "enrollment_id"],
            unique=False,
            sqlite_where=sa.text("nps IS NOT NULL"),
            postgresql_where=sa.text("nps IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_touchpoint_phase_stay", ["enrollment_id", "occurred_at"], unique=False
        )


def downgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table("phase_transition", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_phase_transition_next_phase_id_phase"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_phase_transition_journey_id_journey"), type_="foreignkey"
        )
        batch_op.drop_index("ix_phase_transition_length")
        batch_op.drop_index("ix_phase_transition_entered")
        batch_op.drop_index("ix_phase_transition_ended")
        batch_op.drop_column("days")
        batch_op.drop_column("reentered_at")
        batch_op.drop_column("next_status")
        batch_op.drop_column("next_phase_id")
        batch_op.drop_column("journey_id")

    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.drop_index("ix_enrollment_started")
        batch_op.drop_index("ix_enrollment_customers")
        batch_op.drop_index("ix_enrollment_segment")
        batch_op.drop_column("segment")
        batch_op.drop_column("purchased_at")

    with op.batch_alter_table("touchpoint_phase", schema=None) as batch_op:
        batch_op.drop_index("ix_touchpoint_phase_stay")
        batch_op.drop_index(
            "ix_touchpoint_phase_nps",
            sqlite_where=sa.text("nps IS NOT NULL"),
            postgresql_where=sa.text("nps IS NOT NULL"),
        )
        batch_op.drop_index("ix_touchpoint_phase_map")

    op.drop_table("touchpoint_phase")
    # ### end Alembic commands ###
