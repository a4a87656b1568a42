"""Realistic demo and benchmark data: German and English people and companies, and
touchpoints over two years across channels and moods.

Rows are bulk-inserted with SQLAlchemy Core into a CRM without contacts; the non-unique
secondary indexes are dropped before the load and built after it.
"""

import bisect
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, insert, select, text

from crm.contacts.models import Company, Contact, search_text_for
from crm.core import lists
from crm.core.db import job_session
from crm.deals import service as deal_service
from crm.deals.models import LostReason
from crm.journeys import attribution
from crm.journeys import service as journey_service
from crm.journeys.models import ExitReason
from crm.kept import settle_all
from crm.models import metadata
from crm.touchpoints import service as touchpoint_service
from crm.touchpoints.models import Channel, Outcome

SEED = 20261123
CHUNK = 5_000
LOADED_TABLES = (
    "company",
    "contact",
    "contact_email",
    "contact_phone",
    "touchpoint",
    "enrollment",
    "phase_transition",
    "deal",
    "deal_stage_change",
)
# Per step in a phase of the Classic journey: the odds of moving on, of stepping back and
# of leaving the journey; otherwise the subject stays where it is.
STEP_ODDS = {
    "awareness": (0.35, 0.0, 0.2),
    "consideration": (0.3, 0.05, 0.2),
    "conversion": (0.7, 0.05, 0.15),
    "retention": (0.15, 0.0, 0.05),
    "advocacy": (0.0, 0.05, 0.02),
}

# Sentiments drawn per phase of the Classic journey (None: outside it): curious, unsure
# while comparing, determined at the purchase, mixed in retention, glad as advocates.
MOODS: dict[str | None, list[int | None]] = {
    "awareness": [-1, 0, 0, 1, 1, None],
    "consideration": [-2, -1, -1, 0, 0, 1, None],
    "conversion": [0, 1, 1, 2, 2, None],
    "retention": [-2, -1, 0, 1, 1, 1, 2, None],
    "advocacy": [1, 2, 2, 2, None],
    None: [-2, -1, 0, 0, 1, 1, 2, None],
}
# The NPS answer a survey gets, by the sentiment of the touchpoint.
NPS_BY_MOOD = {-2: (0, 4), -1: (2, 6), 0: (5, 8), 1: (7, 9), 2: (9, 10), None: (0, 10)}

FIRST = [
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Emma",
    "Felix",
    "Greta",
    "Hans",
    "Ida",
    "Jonas",
    "Karl",
    "Lena",
    "Max",
    "Nina",
    "Oskar",
    "Paula",
    "Quentin",
    "Rosa",
    "Stefan",
    "Tanja",
    "Uwe",
    "Vera",
    "Walter",
    "Yvonne",
    "Zoe",
    "James",
    "Olivia",
    "William",
    "Sophie",
    "Thomas",
    "Emily",
    "George",
    "Charlotte",
    "Harry",
    "Amelia",
    "Jürgen",
    "Sören",
    "Änne",
    "Björn",
    "Maëlle",
]
LAST = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hofmann",
    "Hartmann",
    "Lange",
    "Schmitt",
    "Werner",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "O'Neill",
    "Weiß",
]
COMPANY_WORDS = [
    "Nord",
    "Süd",
    "Alpen",
    "Rhein",
    "Elbe",
    "Sonnen",
    "Stahl",
    "Holz",
    "Glas",
    "Daten",
    "Logistik",
    "Medien",
    "Bau",
    "Energie",
    "Garten",
    "Brau",
    "Textil",
    "Maschinen",
    "Blue",
    "Bright",
    "Green",
    "North",
    "Summit",
    "Harbour",
    "Oak",
]
COMPANY_FORMS = ["GmbH", "AG", "KG", "GmbH & Co. KG", "Ltd", "plc", "SE", "e.K."]
INDUSTRIES = [
    "Manufacturing",
    "Retail",
    "Logistics",
    "Software",
    "Construction",
    "Food",
    "Healthcare",
    "Energy",
]
SEGMENTS = ["SMB", "Mid-market", "Enterprise", "Public sector"]
MOBILE_PREFIXES = ["151", "160", "170", "171", "172", "176", "1520"]
DEAL_TITLES = [
    "Annual supply contract",
    "Pilot project",
    "Maintenance agreement",
    "New production line",
    "Software licences",
    "Framework agreement",
    "Upgrade to the premium plan",
    "Consulting days",
]
SUMMARIES = [
    "Called about the offer",
    "Sent the price list",
    "Meeting at their office",
    "Asked for a reference customer",
    "Follow-up on the quote",
    "Talked at the trade fair",
    "Complaint about a late delivery",
    "Renewal discussed",
    "Onboarding check-in",
    "Survey answered",
]


def chunks(rows: Iterator[dict[str, Any]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def has_customers(engine: Engine) -> bool:
    """Whether any company or contact exists: the loader numbers its rows from 1."""
    with engine.connect() as conn:
        return any(
            conn.execute(select(func.count()).select_from(model)).scalar()
            for model in (Company, Contact)
        )


def generate(
    engine: Engine,
    *,
    contacts: int,
    companies: int,
    touchpoints: int,
    owner_ids: list[int],
    now: datetime,
    busy_contacts: int = 0,
    busy_touchpoints: int = 0,
    seed: int = SEED,
) -> None:
    """Bulk-load companies, contacts and touchpoints into a CRM that has none yet.

    The first ``busy_contacts`` contacts get ``busy_touchpoints`` touchpoints each; the
    rest are spread at random over the two years before ``now``.
    """
    n_contacts, n_companies, n_touchpoints = contacts, companies, touchpoints
    rng = random.Random(seed)  # noqa: S311 (made-up data, not secrets)
    with job_session(engine) as session:
        touchpoint_service.seed_defaults(session)
        journey_service.seed_defaults(session)
        deal_service.seed_defaults(session)
        channels = [c.id for c in lists.entries(session, Channel)]
        survey = next((c.id for c in lists.entries(session, Channel) if c.key == "survey"), None)
        outcomes = [o.id for o in lists.entries(session, Outcome)]
        # The enrolments follow the Classic journey as seeded; without it there are none.
        journey = journey_service.classic_journey(session)
        classic = (
            [(p.id, p.key) for p in journey_service.phases_of(session, journey)] if journey else []
        )
        if [key for _, key in classic] != list(STEP_ODDS):
            classic = []
        classic_id = journey.id if journey else None
        purchase = (
            next(
                (p.id for p in journey_service.phases_of(session, journey) if p.kind == "purchase"),
                None,
            )
            if journey
            else None
        )
        exits = {r.key: r.id for r in lists.entries(session, ExitReason)}
        pipeline = deal_service.list_pipelines(session)[0]
        sales = SalesPipeline(
            pipeline.id,
            {s.kind: s.id for s in deal_service.stages_of(session, pipeline) if s.kind != "open"},
            [s.id for s in deal_service.stages_of(session, pipeline) if s.kind == "open"],
            [r.id for r in lists.entries(session, LostReason)],
        )

    tables = metadata.tables
    indexes = [
        index for name in LOADED_TABLES for index in tables[name].indexes if not index.unique
    ]
    with engine.begin() as conn:
        for index in indexes:
            index.drop(conn)

        company_names = {}
        segments: dict[tuple[str, int], str] = {}  # (subject key, number) -> segment

        def companies() -> Iterator[dict[str, Any]]:
            for number in range(1, n_companies + 1):
                name = (
                    f"{rng.choice(COMPANY_WORDS)}{rng.choice(COMPANY_WORDS).lower()} "
                    f"{number} {rng.choice(COMPANY_FORMS)}"
                )
                company_names[number] = name
                yield {
                    "id": number,
                    "name": name,
                    "domain": f"company{number}.example",
                    "website": f"https://company{number}.example",
                    "industry": rng.choice(INDUSTRIES),
                    "segment": segments.setdefault(("company_id", number), rng.choice(SEGMENTS)),
                    "city": rng.choice(["Berlin", "Hamburg", "München", "Köln", "London"]),
                    "country": "DE",
                    "owner_id": rng.choice(owner_ids),
                    "created_at": now - timedelta(days=rng.randint(0, 900)),
                    "updated_at": now,
                }

        for batch in chunks(companies()):
            conn.execute(insert(tables["company"]), batch)

        contact_company: dict[int, int | None] = {}

        def contacts() -> Iterator[dict[str, Any]]:
            for number in range(1, n_contacts + 1):
                first, last = rng.choice(FIRST), rng.choice(LAST)
                company_id = rng.randint(1, n_companies) if rng.random() < 0.85 else None
                contact_company[number] = company_id
                email = f"contact{number}@mail{number % 97}.example"
                phone = f"+49{rng.choice(MOBILE_PREFIXES)}{rng.randint(1_000_000, 9_999_999)}"
                yield {
                    "id": number,
                    "first_name": first,
                    "last_name": last,
                    "company_id": company_id,
                    "owner_id": rng.choice(owner_ids),
                    "segment": segments.setdefault(("contact_id", number), rng.choice(SEGMENTS)),
                    "source": "import",
                    "search_text": search_text_for(
                        first_name=first,
                        last_name=last,
                        emails=[email],
                        phones=[phone],
                        company_name=company_names.get(company_id),
                    ),
                    "created_at": now - timedelta(days=rng.randint(0, 900)),
                    "updated_at": now,
                    "email": email,
                    "phone": phone,
                }

        for batch in chunks(contacts()):
            conn.execute(
                insert(tables["contact"]),
                batch,
            )
            conn.execute(
                insert(tables["contact_email"]),
                [{"contact_id": row["id"], "email": row["email"], "position": 0} for row in batch],
            )
            conn.execute(
                insert(tables["contact_phone"]),
                [{"contact_id": row["id"], "number": row["phone"], "position": 0} for row in batch],
            )

        # Each contact's steps (times, phase keys), so that touchpoints get the mood of
        # the phase they fall into: the emotion curve of the journey map.
        stays: dict[int, tuple[list[datetime], list[str | None]]] = {}
        phase_keys = dict(classic)
        subjects = [("contact_id", n) for n in range(1, n_contacts + 1)] if classic else []
        subjects += [("company_id", n) for n in range(1, n_companies + 1)] if classic else []
        transitions: list[dict[str, Any]] = []
        enrollments = []
        deals: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
        for number, (key, subject_id) in enumerate(subjects, start=1):
            history = journey_history(rng, classic, exits, now=now)
            if key == "contact_id":
                stays[subject_id] = (
                    [step["at"] for step in history],
                    [phase_keys.get(step["to_phase_id"]) for step in history],
                )
            bought = next((s["at"] for s in history if s["to_phase_id"] == purchase), None)
            # phase, or an exit's status -> its latest stay or exit so far
            latest: dict[int | str, dict[str, Any]] = {}
            for step, after in zip(history, [*history[1:], None], strict=True):
                row = {
                    "enrollment_id": number,
                    "journey_id": classic_id,
                    **step,
                    "until": after["at"] if after else None,
                    "days": (after["at"] - step["at"]).total_seconds() / 86_400 if after else None,
                    "next_phase_id": after["to_phase_id"] if after else None,
                    "next_status": after["status"] if after else None,
                    "reentered_at": None,
                    "left_as_customer": step["to_phase_id"] is None
                    and bought is not None
                    and bought < step["at"],
                    "created_at": now,
                }
                same = step["to_phase_id"] or step["status"]
                if same in latest:
                    latest[same]["reentered_at"] = step["at"]
                latest[same] = row
                transitions.append(row)
            last = history[-1]
            entered = [step for step in history if step["to_phase_id"]]
            enrollments.append(
                {
                    "id": number,
                    "journey_id": classic_id,
                    "contact_id": None,
                    "company_id": None,
                    key: subject_id,
                    "segment": segments[(key, subject_id)],
                    "phase_id": entered[-1]["to_phase_id"],
                    "status": last["status"],
                    "phase_since": entered[-1]["at"],
                    "started_at": history[0]["at"],
                    "purchased_at": bought,
                    "days_to_purchase": (bought - history[0]["at"]).total_seconds() / 86_400
                    if bought
                    else None,
                    "ended_at": None if last["to_phase_id"] else last["at"],
                    "exit_reason_id": last["exit_reason_id"],
                    "created_at": history[0]["at"],
                    "updated_at": last["at"],
                }
            )
            if key == "company_id":
                deals += company_deals(
                    rng,
                    sales,
                    history,
                    company_id=subject_id,
                    owner_ids=owner_ids,
                    now=now,
                    purchase=purchase,
                    first_id=len(deals) + 1,
                )
            if len(enrollments) == CHUNK:
                conn.execute(insert(tables["enrollment"]), enrollments)
                conn.execute(insert(tables["phase_transition"]), transitions)
                enrollments, transitions = [], []
        if enrollments:
            conn.execute(insert(tables["enrollment"]), enrollments)
            conn.execute(insert(tables["phase_transition"]), transitions)
        for batch in chunks(iter(deals)):
            conn.execute(insert(tables["deal"]), [row for row, _ in batch])
            conn.execute(
                insert(tables["deal_stage_change"]), [c for _, changes in batch for c in changes]
            )

        def touchpoints() -> Iterator[dict[str, Any]]:
            for number in range(n_touchpoints):
                if number < busy_contacts * busy_touchpoints:
                    contact_id = number // busy_touchpoints + 1
                else:
                    contact_id = rng.randint(busy_contacts + 1, n_contacts)
                occurred_at = now - timedelta(minutes=rng.randint(0, 2 * 365 * 1440))
                times, keys = stays.get(contact_id, ([], []))
                step = bisect.bisect_right(times, occurred_at) - 1
                sentiment = rng.choice(MOODS[keys[step] if step >= 0 else None])
                channel = rng.choice(channels)
                yield {
                    "contact_id": contact_id,
                    "company_id": contact_company[contact_id],
                    "channel_id": channel,
                    "outcome_id": rng.choice(outcomes) if rng.random() < 0.6 else None,
                    "direction": rng.choice(["outbound", "outbound", "inbound"]),
                    "initiated_by": rng.choice(["company", "customer"]),
                    "occurred_at": occurred_at,
                    "summary": rng.choice(SUMMARIES),
                    "sentiment": sentiment,
                    "nps": rng.randint(*NPS_BY_MOOD[sentiment]) if channel == survey else None,
                    "logged_by_id": rng.choice(owner_ids),
                    "created_at": now,
                }

        for batch in chunks(touchpoints()):
            conn.execute(insert(tables["touchpoint"]), batch)

        for index in indexes:
            index.create(conn)
        if engine.dialect.name == "postgresql":
            for name in (
                "company",
                "contact",
                "touchpoint",
                "enrollment",
                "phase_transition",
                "deal",
                "deal_stage_change",
            ):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "  # noqa: S608 (our table names)
                        f"(SELECT max(id) FROM {name}))"
                    )
                )
    with job_session(engine) as session:
        attribution.refresh(session, new=True)
        settle_all(session)  # the bulk load's changes to kept figures, before anyone reads
    # PostgreSQL also needs the VACUUM that autovacuum would run a while later: until
    # then every read of the fresh rows checks their visibility the slow way.
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE)"))
        return
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


@dataclass
class SalesPipeline:
    id: int
    closing: dict[str, int]  # stage kind (won, lost) -> stage id
    open: list[int]  # the open stages, in order
    lost_reasons: list[int]


def company_deals(
    rng: random.Random,
    sales: SalesPipeline,
    history: list[dict[str, Any]],
    *,
    company_id: int,
    owner_ids: list[int],
    now: datetime,
    purchase: int | None,
    first_id: int,
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Deals that agree with the company's journey: won when it reached the purchase,
    lost when it left before, open while it considers; and an open follow-up deal."""
    bought = next((step["at"] for step in history if step["to_phase_id"] == purchase), None)
    left = history[-1] if history[-1]["to_phase_id"] is None else None
    if bought is not None:
        first = ("won", bought)
    elif left is not None and left["status"] == "lost":
        first = ("lost", left["at"])
    else:
        first = ("open", None)
    deals = []
    for number, (status, closed_at) in enumerate([first, ("open", None)]):
        created = (closed_at or now) - timedelta(days=rng.uniform(5, 60))
        steps = sales.open[: rng.randint(1, len(sales.open))]
        end = closed_at or now
        times = sorted(created + (end - created) * rng.random() for _ in steps[1:])
        path = list(zip(steps, [created, *times], strict=True))
        if status != "open":
            path.append((sales.closing[status], closed_at))
        changes = [
            {
                "deal_id": first_id + number,
                "from_stage_id": path[i - 1][0] if i else None,
                "to_stage_id": stage,
                "at": at,
                "until": path[i + 1][1] if i + 1 < len(path) else None,
                "by_id": None,
            }
            for i, (stage, at) in enumerate(path)
        ]
        deal = {
            "id": first_id + number,
            "pipeline_id": sales.id,
            "stage_id": path[-1][0],
            "title": rng.choice(DEAL_TITLES),
            "company_id": company_id,
            "owner_id": rng.choice(owner_ids),
            "amount": Decimal(rng.randrange(500, 80_000, 50)),
            "currency": "EUR",
            "probability": None,
            "expected_close_date": (now + timedelta(days=rng.uniform(-10, 330))).date()
            if status == "open"
            else closed_at.date(),
            "status": status,
            "stage_since": path[-1][1],
            "closed_at": closed_at,
            "lost_reason_id": rng.choice(sales.lost_reasons) if status == "lost" else None,
            "created_at": created,
            "updated_at": path[-1][1],
        }
        deals.append((deal, changes))
    return deals


def journey_history(
    rng: random.Random, phases: list[tuple[int, str]], exits: dict[str, int], *, now: datetime
) -> list[dict[str, Any]]:
    """A believable path through the Classic journey until ``now``: many leave before the
    purchase, a few step back, customers churn now and then, and some come back later."""
    at = now - timedelta(days=rng.uniform(5, 700))
    history: list[dict[str, Any]] = []
    index: int | None = 0

    def step(to: int | None, status: str = "active", reason: str | None = None) -> None:
        history.append(
            {
                # None after an exit: coming back is an entry, as in the service
                "from_phase_id": history[-1]["to_phase_id"] if history else None,
                "to_phase_id": to,
                "status": status,
                "at": at,
                "cause": "import",
                "exit_reason_id": exits[reason] if reason else None,
            }
        )

    step(phases[0][0])
    while True:
        at += timedelta(days=rng.expovariate(1 / 20))
        if at >= now:
            return history
        if index is None:  # left the journey: some come back to consider again
            if rng.random() < 0.05:
                index = 1
                step(phases[index][0])
            continue
        move_on, back, leave = STEP_ODDS[phases[index][1]]
        roll = rng.random()
        if roll < move_on:
            index += 1
        elif roll < move_on + back:
            index -= 1
        elif roll < move_on + back + leave:
            customer = index >= 3
            if customer:
                step(None, "churned", rng.choice(["price", "service", "competitor"]))
            else:
                step(None, "lost", rng.choice(["competitor", "no_budget", "no_need"]))
            index = None
            continue
        else:
            continue
        step(phases[index][0])
