"""vCard (RFC 6350, and the 3.0 and 2.1 files address books still export): contacts
written as cards, and cards read back as the fields an import fills.

Written by hand rather than with a library: we read and write only the few properties
a contact has (N, FN, EMAIL, TEL, ORG, TITLE, NOTE, CATEGORIES, LANG), and the
maintained vCard library pulls in dependencies for time zones we never need.
"""

import quopri
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from crm.contacts.models import Contact
from crm.core.contentlines import escape, fold


def card(contact: Contact, *, company_name: str | None) -> str:
    """One contact as a vCard 3.0, the version every common address book reads."""
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        f"N:{escape(contact.last_name)};{escape(contact.first_name)};;;",
        f"FN:{escape(contact.name)}",
    ]
    if company_name:
        lines.append(f"ORG:{escape(company_name)}")
    if contact.job_title:
        lines.append(f"TITLE:{escape(contact.job_title)}")
    for position, email in enumerate(contact.emails):
        lines.append(f"EMAIL;TYPE=INTERNET{',PREF' if position == 0 else ''}:{escape(email)}")
    for position, number in enumerate(contact.phones):
        lines.append(f"TEL;TYPE=VOICE{',PREF' if position == 0 else ''}:{number}")
    if contact.tags:
        lines.append("CATEGORIES:" + ",".join(escape(tag) for tag in contact.tags))
    if contact.language:
        lines.append(f"LANG:{escape(contact.language)}")
    if contact.notes:
        lines.append(f"NOTE:{escape(contact.notes)}")
    lines.append("END:VCARD")
    return "".join(fold(line) for line in lines)


@dataclass
class Property:
    name: str
    params: dict[str, list[str]]
    value: str


@dataclass
class Card:
    line: int  # where BEGIN:VCARD stands, for messages about the card
    properties: list[Property] = field(default_factory=list)

    def values(self, name: str) -> list[Property]:
        return [p for p in self.properties if p.name == name]

    def first(self, name: str) -> str:
        found = self.values(name)
        return found[0].value if found else ""


# NAME;PARAM=a,b;PARAM="x:y":value (the property name may carry a group: item1.EMAIL)
CONTENT_LINE = re.compile(r"^(?:[\w-]+\.)?(?P<name>[\w-]+)(?P<params>(?:;[^:]*)?):(?P<value>.*)$")


def _params(text: str) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for part in re.findall(r';((?:[^;"]|"[^"]*")*)', text):
        key, _, value = part.partition("=")
        if not value:  # vCard 2.1 writes bare types: TEL;CELL;PREF
            key, value = "TYPE", key
        values = [v.strip('"') for v in value.split(",")]
        params.setdefault(key.upper(), []).extend(values)
    return params


def _unescape(value: str) -> str:
    return re.sub(
        r"\\(.)", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value, flags=re.DOTALL
    )


def _split(value: str, separator: str) -> list[str]:
    """Components separated by an unescaped separator, unescaped."""
    return [_unescape(part) for part in re.split(rf"(?<!\\){separator}", value)]


def _logical_lines(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """Unfolded lines with the number of their first physical line. vCard 2.1's
    quoted-printable values continue after a soft line break ("=" at the end)."""
    current, start = None, 0
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if current is not None and line[:1] in (" ", "\t"):
            current += line[1:]
            continue
        if current is not None and current.endswith("=") and "QUOTED-PRINTABLE" in current.upper():
            current = current[:-1] + line
            continue
        if current is not None:
            yield start, current
        current, start = line, number
    if current is not None:
        yield start, current


def _decode(prop_params: dict[str, list[str]], value: str) -> str:
    encoding = [e.upper() for e in prop_params.get("ENCODING", [])]
    if "QUOTED-PRINTABLE" in encoding:
        charset = (prop_params.get("CHARSET") or ["utf-8"])[0]
        try:
            return quopri.decodestring(value.encode()).decode(charset, errors="replace")
        except LookupError:
            return quopri.decodestring(value.encode()).decode("utf-8", errors="replace")
    return value


def read_cards(lines: Iterable[str]) -> Iterator[Card]:
    """The cards in a file; lines outside BEGIN/END and lines that are no properties
    are ignored."""
    current: Card | None = None
    for number, line in _logical_lines(lines):
        match = CONTENT_LINE.match(line)
        if match is None:
            continue
        name, value = match["name"].upper(), match["value"]
        if name == "BEGIN" and value.strip().upper() == "VCARD":
            current = Card(line=number)
        elif name == "END" and value.strip().upper() == "VCARD":
            if current is not None:
                yield current
            current = None
        elif current is not None:
            params = _params(match["params"])
            current.properties.append(Property(name, params, _decode(params, value)))


def _preferred_first(props: list[Property]) -> list[Property]:
    def preferred(prop: Property) -> bool:
        types = [t.upper() for t in prop.params.get("TYPE", [])]
        return "PREF" in types or "PREF" in prop.params

    return sorted(props, key=lambda prop: not preferred(prop))


def fields_of(found: Card) -> dict[str, str]:
    """A card as import fields (see crm.imports.rows.CONTACT_FIELDS)."""
    last, first = "", ""
    if name := found.first("N"):
        parts = [*_split(name, ";"), "", ""]
        last, first = parts[0], " ".join(p for p in (parts[1], parts[2]) if p)
    if not (first or last) and (full := _unescape(found.first("FN")).strip()):
        first, _, last = full.rpartition(" ")
    emails = [_unescape(p.value).strip() for p in _preferred_first(found.values("EMAIL"))]
    phones = [_unescape(p.value).strip() for p in _preferred_first(found.values("TEL"))]
    phones = [p.removeprefix("tel:") for p in phones if p]
    categories = [c.strip() for p in found.values("CATEGORIES") for c in _split(p.value, ",")]
    return {
        "first_name": first.strip(),
        "last_name": last.strip(),
        "email": emails[0] if emails else "",
        "other_emails": ", ".join(e for e in emails[1:] if e),
        "phone": phones[0] if phones else "",
        "other_phones": ", ".join(phones[1:]),
        "company": _split(found.first("ORG"), ";")[0].strip() if found.first("ORG") else "",
        "job_title": _unescape(found.first("TITLE")).strip(),
        "language": _unescape(found.first("LANG")).strip(),
        "notes": _unescape(found.first("NOTE")).strip(),
        "tags": ", ".join(c for c in categories if c),
    }
