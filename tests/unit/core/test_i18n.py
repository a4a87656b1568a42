import re

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from crm.core.i18n import TRANSLATIONS_DIR, best_language, best_locale, translations
from crm.core.settings import ROOT


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("fr-FR,fr;q=0.9,de;q=0.5", "de"),
        ("en;q=0.4,de;q=0.8", "de"),
        ("fr,es", "en"),
        ("de;q=0", "en"),
        ("*;q=0.5, de-AT", "de"),
        ("de;q=abc,en", "en"),
    ],
)
def test_best_language_follows_accept_language(header, expected):
    assert best_language(header, "en") == expected


@pytest.mark.parametrize(
    ("header", "language", "expected"),
    [
        ("en-GB,en;q=0.9", "en", "en_GB"),
        ("en-GB,en;q=0.9", "de", "de"),
        ("de-AT,de;q=0.9,en-GB;q=0.5", "en", "en_GB"),
        ("de-CH", "de", "de_CH"),
        (None, "de", "de"),
        ("xx-YY,en-IE", "en", "en_IE"),
    ],
)
def test_the_locale_is_the_browsers_variant_of_the_pages_language(header, language, expected):
    assert str(best_locale(header, language)) == expected


def _extracted_messages() -> set[str]:
    messages: set[str] = set()
    method_map = [("crm/**.py", "python"), ("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    for _, _, message, _, _ in extract_from_dir(
        str(ROOT),
        method_map,
        options,
        keywords={"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)},
    ):
        messages.update([message] if isinstance(message, str) else message)
    return messages


def test_every_ui_string_has_a_german_translation():
    with (TRANSLATIONS_DIR / "de" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale="de")
    translated = set()
    for message in catalog:
        complete = all(message.string) if isinstance(message.string, tuple) else message.string
        if message.id and complete and "fuzzy" not in message.flags:
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            translated.update(ids)
    missing = sorted(_extracted_messages() - translated)
    assert missing == [], "run `make messages` and translate: " + "; ".join(missing)


def test_the_extraction_finds_strings_from_code_and_templates():
    messages = _extracted_messages()
    assert "Wrong e-mail or password." in messages  # services
    assert "Log in" in messages  # templates


def test_german_catalogue_is_loaded_and_english_is_the_source():
    assert translations("de").gettext("Log in") == "Anmelden"
    assert translations("en").gettext("Log in") == "Log in"


def test_translations_with_placeholders_keep_them():
    with (TRANSLATIONS_DIR / "de" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale="de")
    for message in catalog:
        if message.id and "%(" in message.id:
            assert sorted(_placeholders(message.id)) == sorted(_placeholders(message.string))


def _placeholders(text: str) -> list[str]:
    return re.findall(r"%\((\w+)\)s", text)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{{ _("Probability in %") }}', "Wahrscheinlichkeit in %"),
        ("{{ _(name) }}", "Upsell 100% &lt;b&gt;"),  # a stored name is no format string
        ('{{ _("Choose %(name)s", name=name) }}', "Upsell 100% &lt;b&gt; auswählen"),
        ('{{ ngettext("%(num)d day", "%(num)d days", 1) }}', "1 Tag"),
        ('{{ ngettext("%(num)s row", "%(num)s rows", 1200, num="1.200") }}', "1.200 Zeilen"),
    ],
)
def test_template_messages_are_formatted_only_with_values(source, expected):
    from crm.core.templating import environment

    context = {"translations": translations("de"), "name": "Upsell 100% <b>"}
    assert environment.from_string(source).render(context) == expected
