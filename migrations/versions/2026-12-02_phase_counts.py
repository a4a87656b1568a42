"""Active enrollments per phase, kept as they change: the settled counts, the changes
since (appended by triggers on enrollment, on both databases), and the counts of today's
data settled at once. See crm.core.tallies and crm.journeys.counts.

Revision ID: ccf0ca410ff0
Revises: 058fa4f2f678
Create Date: 2026-12-02 18:47:34.499790
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ccf0ca410ff0"
down_revision: str | Sequence[str] | None = "058fa4f2f678"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER enrollment_count_insert AFTER INSERT ON enrollment
    WHEN NEW.status = 'active'
    BEGIN
        INSERT INTO phase_count_change (phase_id, active) VALUES (NEW.phase_id, 1);
    END
    """,
    """
    CREATE TRIGGER enrollment_count_delete AFTER DELETE ON enrollment
    WHEN OLD.status = 'active'
    BEGIN
        INSERT INTO phase_count_change (phase_id, active) VALUES (OLD.phase_id, -1);
    END
    """,
    """
    CREATE TRIGGER enrollment_count_update AFTER UPDATE OF phase_id, status ON enrollment
    WHEN OLD.phase_id IS NOT NEW.phase_id OR OLD.status IS NOT NEW.status
    BEGIN
        INSERT INTO phase_count_change (phase_id, active)
            SELECT OLD.phase_id, -1 WHERE OLD.status = 'active';
        INSERT INTO phase_count_change (phase_id, active)
            SELECT NEW.phase_id, 1 WHERE NEW.status = 'active';
    END
    """,
]
POSTGRESQL_TRIGGERS = [
    """
    CREATE FUNCTION enrollment_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND OLD.phase_id = NEW.phase_id AND OLD.status = NEW.status THEN
            RETURN NULL;
        END IF;
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'active' THEN
            INSERT INTO phase_count_change (phase_id, active) VALUES (OLD.phase_id, -1);
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.status = 'active' THEN
            INSERT INTO phase_count_change (phase_id, active) VALUES (NEW.phase_id, 1);
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER enrollment_count AFTER INSERT OR DELETE OR UPDATE OF phase_id, status
    ON enrollment FOR EACH ROW EXECUTE FUNCTION enrollment_count()
    """,
]


def upgrade() -> None:
    op.create_table(
        "phase_count_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phase_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phase_count_change")),
    )
    with op.batch_alter_table("phase_count_change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_phase_count_change_phase_id"), ["phase_id"], unique=False
        )

    op.create_table(
        "phase_count",
        sa.Column("phase_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("phase_id", name=op.f("pk_phase_count")),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRESQL_TRIGGERS if postgres else SQLITE_TRIGGERS:
        op.execute(statement)
    op.execute(
        "INSERT INTO phase_count (phase_id, active) SELECT phase_id, count(*) FROM enrollment "
        "WHERE status = 'active' GROUP BY phase_id"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER enrollment_count ON enrollment")
        op.execute("DROP FUNCTION enrollment_count()")
    else:
        for event in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER enrollment_count_{event}")
    op.drop_table("phase_count")
    with op.batch_alter_table("phase_count_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phase_count_change_phase_id"))

    op.drop_table("phase_count_change")
