"""Generate benchmark data into an empty database.

    .venv/bin/python bench/generate.py --size S|M|L --database-url URL

Sizes: S is 5k contacts, 1k companies and 50k touchpoints; M is 100k contacts, 10k
companies and 1M touchpoints; L is 1M contacts, 100k companies and 10M touchpoints (meant
for PostgreSQL). Every company gets two deals (20k at M). A fixed seed
makes every run produce the same data (crm/demo.py does the loading).
"""

import argparse
import time
from datetime import UTC, datetime

from alembic import command

from crm import demo
from crm.cli import alembic_config
from crm.core.db import job_session, make_engine
from crm.users import service as user_service
from crm.users.models import Role, UserCreate

SIZES = {
    "S": (5_000, 1_000, 50_000),
    "M": (100_000, 10_000, 1_000_000),
    "L": (1_000_000, 100_000, 10_000_000),
}
BENCH_EMAIL, BENCH_PASSWORD = "bench@example.com", "bench password"
# The first contacts get this many touchpoints each, for the contact-page measurement.
BUSY_CONTACTS, BUSY_TOUCHPOINTS = 200, 50
# The data's present: its histories end here.
DATA_NOW = datetime(2026, 11, 1, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="S")
    parser.add_argument("--database-url", required=True)
    options = parser.parse_args()
    command.upgrade(alembic_config(options.database_url), "head")
    engine = make_engine(options.database_url)
    if demo.has_customers(engine):
        raise SystemExit("the database already holds companies or contacts")
    with job_session(engine) as session:
        owner = user_service.create_user(
            session,
            data=UserCreate(email=BENCH_EMAIL, name="Bench Rep", roles={Role.SALES_REP}),
            password=BENCH_PASSWORD,
            actor_id=None,
        )
        owner_id = owner.id
    contacts, companies, touchpoints = SIZES[options.size]
    started = time.perf_counter()
    demo.generate(
        engine,
        contacts=contacts,
        companies=companies,
        touchpoints=touchpoints,
        owner_ids=[owner_id],
        now=DATA_NOW,
        busy_contacts=BUSY_CONTACTS,
        busy_touchpoints=BUSY_TOUCHPOINTS,
    )
    engine.dispose()
    print(f"loaded size {options.size} in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
