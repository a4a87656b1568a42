"""A rep's home reads their open deals stage by stage through an index of their own;
the forecast's index goes (the forecast is kept in forecast_total now).

Revision ID: da231196b859
Revises: dc5d19f529fb
Create Date: 2026-12-02 19:21:28.957655
"""

from collections.abc import Sequence

from alembic import op

revision: str = "da231196b859"
down_revision: str | Sequence[str] | None = "dc5d19f529fb"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deal_forecast"))
        batch_op.create_index(
            "ix_deal_owner_open",
            ["owner_id", "status", "stage_id", "next_step_date", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("deal", schema=None) as batch_op:
        batch_op.drop_index("ix_deal_owner_open")
        batch_op.create_index(
            batch_op.f("ix_deal_forecast"),
            ["status", "expected_close_date", "currency", "amount"],
            unique=False,
        )
