from crm.core import audit
from tests.factories import make_user


def test_records_who_did_what_to_which_record_without_values(session):
    actor = make_user(session)
    event = audit.record(
        session,
        actor_id=actor.id,
        action="user.update",
        entity_type="user",
        entity_id=actor.id,
        fields=["name", "email"],
    )
    assert event.id is not None
    assert event.fields == ["email", "name"]
    events = audit.events_for(session, entity_type="user", entity_id=actor.id)
    assert [e.action for e in events] == ["user.update", "user.create"]
    assert all(actor.email not in str(e.model_dump()) for e in events)
