import pytest
from pydantic import ValidationError

from crm.contacts import service
from crm.contacts.models import CompanyCreate, CompanyUpdate, ContactCreate, ContactUpdate
from crm.core import audit
from crm.core.errors import BadRequest, Conflict, Invalid, NotFound
from tests.factories import make_company, make_contact, make_user


class TestValidation:
    def test_emails_are_normalised_and_phones_put_in_e164(self):
        data = ContactCreate(
            first_name=" Anna ",
            last_name="Schmidt",
            emails=["Anna.Schmidt@Example.DE "],
            phones=["030 1234567", "+44 20 7946 0958"],
        )
        assert data.first_name == "Anna"
        assert data.emails == ["anna.schmidt@example.de"]
        assert data.phones == ["+49301234567", "+442079460958"]

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("emails", ["not-an-address"]),
            ("phones", ["12"]),
            ("phones", ["call me"]),
            ("emails", ["a@example.com", "A@example.com"]),
            ("first_name", "  "),
        ],
    )
    def test_bad_values_are_refused(self, field, value):
        values = {"first_name": "A", "last_name": "B", field: value}
        with pytest.raises(ValidationError):
            ContactCreate(**values)


class TestCompanies:
    @pytest.mark.parametrize(
        ("website", "domain"),
        [("https://www.mueller.de/x", "mueller.de"), ("https://" + "a" * 250, None), ("", None)],
    )
    def test_a_domain_is_a_plausible_host_or_none(self, website, domain):
        assert service.domain_of(website) == domain

    def test_the_domain_is_taken_from_the_website(self, session):
        company = service.create_company(
            session,
            data=CompanyCreate(name="Müller GmbH", website="https://www.mueller.de/x"),
            actor_id=None,
        )
        assert company.domain == "mueller.de"
        service.update_company(
            session,
            company=company,
            data=CompanyUpdate(website="http://shop.mueller.com"),
            actor_id=None,
        )
        assert company.domain == "shop.mueller.com"

    def test_deleting_a_company_keeps_its_contacts(self, session):
        company = make_company(session)
        contact = make_contact(session, company_id=company.id)
        service.delete_company(session, company=company, actor_id=None)
        session.commit()
        session.refresh(contact)
        assert contact.company_id is None
        with pytest.raises(NotFound):
            service.get_company(session, company_id=company.id)

    def test_an_unknown_owner_is_refused(self, session):
        with pytest.raises(Invalid) as error:
            service.create_company(
                session, data=CompanyCreate(name="X", owner_id=999999), actor_id=None
            )
        assert error.value.field == "owner_id"


class TestContacts:
    def test_create_keeps_the_order_of_addresses_and_audits(self, session):
        owner = make_user(session)
        contact = make_contact(
            session,
            emails=["b@example.com", "a@example.com"],
            phones=["+4930123456"],
            owner_id=owner.id,
        )
        assert contact.emails == ["b@example.com", "a@example.com"]
        event = audit.events_for(session, entity_type="contact", entity_id=contact.id)[0]
        assert event.action == "contact.create" and "emails" in event.fields
        assert "b@example.com" not in str(event.fields)

    def test_an_email_belongs_to_one_contact_only_in_any_case(self, session):
        existing = make_contact(session, emails=["taken@example.com"])
        with pytest.raises(Conflict) as error:
            make_contact(session, emails=["TAKEN@example.com"])
        assert error.value.details == {"existing_contact_id": existing.id}

    def test_update_may_reorder_the_addresses(self, session):
        contact = make_contact(session, emails=["one@example.com", "two@example.com"])
        service.update_contact(
            session,
            contact=contact,
            data=ContactUpdate(emails=["two@example.com", "one@example.com"]),
            actor_id=None,
        )
        session.commit()
        session.expire_all()
        assert service.get_contact(session, contact_id=contact.id).emails == [
            "two@example.com",
            "one@example.com",
        ]

    def test_update_refuses_someone_elses_address_and_a_missing_company(self, session):
        make_contact(session, emails=["mine@example.com"])
        contact = make_contact(session)
        with pytest.raises(Conflict):
            service.update_contact(
                session,
                contact=contact,
                data=ContactUpdate(emails=["mine@example.com"]),
                actor_id=None,
            )
        with pytest.raises(Invalid):
            service.update_contact(
                session, contact=contact, data=ContactUpdate(company_id=999999), actor_id=None
            )
        with pytest.raises(Invalid):
            service.update_contact(
                session, contact=contact, data=ContactUpdate(last_name=None), actor_id=None
            )

    def test_delete_removes_addresses_too(self, session):
        contact = make_contact(session, emails=["gone@example.com"])
        service.delete_contact(session, contact=contact, actor_id=None)
        assert service.find_by_email(session, email="gone@example.com") is None


class TestPrimaryCopies:
    def test_the_contact_carries_its_primary_address_and_number(self, session):
        contact = make_contact(session, emails=["a@example.com", "b@example.com"], phones=[])
        assert (contact.email, contact.phone) == ("a@example.com", None)
        service.update_contact(
            session,
            contact=contact,
            data=ContactUpdate(emails=["b@example.com"], phones=["030 1234567"]),
            actor_id=None,
        )
        assert (contact.email, contact.phone) == ("b@example.com", "+49301234567")
        other = make_contact(session, emails=["c@example.com"], phones=["030 7654321"])
        kept = make_contact(session, emails=[], phones=[])
        service.merge_contacts(
            session, target=kept, duplicate=other, take_from_duplicate=set(), actor_id=None
        )
        assert (kept.email, kept.phone) == ("c@example.com", "+49307654321")
        session.expire_all()
        (listed,), _ = service.list_contacts(session, q="c@example.com")
        assert (listed.email, listed.phone) == ("c@example.com", "+49307654321")


class TestListing:
    def test_keyset_pages_walk_the_whole_list_once_in_order(self, session):
        made = [
            make_contact(session, last_name=name)
            for name in ("Zeller", "Adams", "Meyer", "Becker", "Adams", "Otto", "Klein")
        ]
        seen, cursor = [], None
        while True:
            page, cursor = service.list_contacts(session, limit=3, cursor=cursor)
            seen.extend(page)
            if cursor is None:
                break
        assert [c.id for c in seen] == [
            c.id for c in sorted(made, key=lambda c: (c.last_name, c.first_name, c.id))
        ]

    def test_newest_first_and_filters(self, session):
        company = make_company(session)
        owner = make_user(session)
        first = make_contact(session, company_id=company.id, owner_id=owner.id, segment="SMB")
        second = make_contact(session, company_id=company.id, segment="SMB")
        make_contact(session)
        page, _ = service.list_contacts(session, company_id=company.id, sort="-created")
        assert [c.id for c in page] == [second.id, first.id]
        assert [c.id for c in service.list_contacts(session, owner_id=owner.id)[0]] == [first.id]
        assert len(service.list_contacts(session, segment="SMB")[0]) == 2

    def test_search_finds_names_and_addresses_and_escapes_wildcards(self, session):
        anna = make_contact(
            session, first_name="Anna", last_name="Sommer", emails=["anna@sommer-gmbh.de"]
        )
        make_contact(session, first_name="Bert", last_name="100% Winter")
        assert [c.id for c in service.list_contacts(session, q="SOMM")[0]] == [anna.id]
        assert [c.id for c in service.list_contacts(session, q="sommer-gmbh")[0]] == [anna.id]
        assert [c.last_name for c in service.list_contacts(session, q="0%")[0]] == ["100% Winter"]
        assert service.list_contacts(session, q="_")[0] == []

    def test_the_list_page_reads_what_the_records_hold(self, session):
        company = make_company(session, name="Sonnen GmbH")
        made = [
            make_contact(session, last_name="Adams", company_id=company.id, tags=["VIP", "fair"]),
            make_contact(session, last_name="Becker", phones=["+493012345"]),
            make_contact(session, last_name="Adams", first_name="Zoe", tags=["fair"]),
        ]
        for filters in ({}, {"tag": "fair"}, {"sort": "-created", "limit": 2}, {"q": "adams"}):
            records, cursor = service.list_contacts(session, **filters)
            listed = service.contact_list(session, **filters)
            assert [row.id for row in listed.rows] == [c.id for c in records]
            assert listed.next_cursor == cursor
            for row, record in zip(listed.rows, records, strict=True):
                assert row._asdict() == {
                    field: getattr(record, field) for field in service.ListedContact._fields[:-1]
                } | {"company_name": company.name if record.company_id else None}
                assert listed.tags.get(row.id, []) == record.tags
        assert service.contact_list(session).tags[made[0].id] == ["fair", "VIP"]

    def test_a_broken_cursor_is_a_clear_error(self, session):
        with pytest.raises(BadRequest):
            service.list_contacts(session, cursor="bm90IGpzb24")
        with pytest.raises(BadRequest):
            service.list_contacts(session, cursor="WyJhIl0")  # ["a"]: too short

    def test_companies_list_by_name(self, session):
        made = [make_company(session, name=n) for n in ("Beta AG", "alpha KG", "Gamma SE")]
        page, cursor = service.list_companies(session, q="a", limit=2)
        assert cursor is not None and len(page) == 2
        rest, end = service.list_companies(session, q="a", cursor=cursor, limit=2)
        assert end is None
        assert {c.id for c in page + rest} == {c.id for c in made}
