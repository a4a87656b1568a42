"""Translations (gettext catalogues read from the .po files) and locale choice."""

from collections.abc import Iterator
from functools import cache, lru_cache
from io import BytesIO
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, available_timezones

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from fastapi import Depends, Request

LANGUAGES = {"en": "English", "de": "Deutsch"}
TIME_ZONES = sorted(zone for zone in available_timezones() if "/" in zone)
TRANSLATIONS_DIR = Path(__file__).resolve().parents[1] / "translations"


def site_language(request: Request) -> str:
    """The installation's language (CRM_DEFAULT_LANGUAGE): what the phases and stages a
    template gives a new journey or pipeline are named in, whoever makes it."""
    return request.app.state.settings.default_language


SiteLanguage = Annotated[str, Depends(site_language)]


def request_zone(request: Any) -> ZoneInfo:
    """The time zone a request's dates are read and shown in: the user's, else the site's."""
    return ZoneInfo(getattr(request.state, "time_zone", "UTC"))


@cache
def translations(language: str) -> NullTranslations:
    """The catalogue for a language; English is the source language."""
    po_path = TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not po_path.exists():
        return NullTranslations()
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=language)
    buffer = BytesIO()
    # Compiling in memory keeps generated .mo files out of the repository.
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def _asked_locales(accept_language: str | None) -> Iterator[Locale]:
    """The locales an Accept-Language header asks for, best first; unknown tags skipped."""
    if not accept_language:
        return
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        ranked.append((-quality, position, tag.strip()))
    for negative_quality, _, tag in sorted(ranked):
        if negative_quality >= 0:
            break
        try:
            yield Locale.parse(tag, sep="-")
        except (ValueError, UnknownLocaleError):
            continue


def best_language(accept_language: str | None, default: str) -> str:
    """The first supported language in an Accept-Language header, by quality."""
    for locale in _asked_locales(accept_language):
        if locale.language in LANGUAGES:
            return locale.language
    return default


@lru_cache(maxsize=512)
def best_locale(accept_language: str | None, language: str) -> Locale:
    """How dates and numbers are written for a page in ``language``: in the browser's
    own variant of it where it asks for one (en-GB: 07/12/2026, 16:44), else in the
    language's default. Cached: every page asks, and browsers send few distinct headers."""
    for locale in _asked_locales(accept_language):
        if locale.language == language:
            return locale
    return Locale.parse(language)


class LocaleMiddleware:
    """Language and time zone for the request until a signed-in user's own replace them."""

    def __init__(self, app: Any, *, default_language: str, time_zone: str) -> None:
        self.app = app
        self.default_language = default_language
        self.time_zone = time_zone

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            accept = headers.get(b"accept-language", b"").decode("latin-1")
            state = scope.setdefault("state", {})
            # A signed-out user keeps the language they chose while signed in.
            chosen = scope.get("crm_session", {}).get("lang")
            state["language"] = (
                chosen if chosen in LANGUAGES else best_language(accept, self.default_language)
            )
            state["time_zone"] = self.time_zone
        await self.app(scope, receive, send)
