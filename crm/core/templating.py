"""Jinja2 pages and their fragments.

One template per page; an htmx request gets the block named after its ``HX-Target``
(``#user-rows`` -> block ``user_rows``), any other request the whole page.
"""

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from gettext import NullTranslations
from typing import Any

import phonenumbers
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from babel.units import format_unit
from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, nodes, pass_context
from jinja2.runtime import Context
from jinja2_fragments import render_block
from markupsafe import Markup, escape
from pydantic import ValidationError
from sqlmodel import Session

from crm.core.errors import N_, CRMError
from crm.core.forms import FormErrors
from crm.core.i18n import LANGUAGES, best_locale, request_zone, translations
from crm.core.settings import ROOT

TEMPLATES_DIR = ROOT / "templates"


@lru_cache(maxsize=20_000)
def _translated(catalogue: NullTranslations, message: str) -> Markup:
    """A message translated and escaped once per language: every page asks for its labels."""
    return escape(catalogue.gettext(message))


# Installed as they are, not wrapped as Jinja's "newstyle" callables, which format every
# message with %: a name from the database with a % in it ("Upsell 100%") failed the page.
# As in the Python code, a message is a format string only when it is given values. Names
# from the database (a journey's, a phase's, a channel's) go through _() too, so that the
# seeded ones appear translated: what _() returns is escaped before Jinja trusts it.
@pass_context
def _gettext(context: Context, message: str, **values: Any) -> Markup:
    text = _translated(context["translations"], message)
    return text % values if values else text


@pass_context
def _ngettext(context: Context, singular: str, plural: str, count: int, /, **values: Any) -> Markup:
    text = escape(context["translations"].ngettext(singular, plural, count))
    return text % {"num": count, **values}  # a shown count (num=) may be formatted


@pass_context
def _format_datetime(context: Context, value: datetime | None, fmt: str = "medium") -> str:
    if value is None:
        return ""
    return format_datetime(value, fmt, tzinfo=context["time_zone"], locale=context["locale"])


@pass_context
def _format_date(context: Context, value: date | None, fmt: str = "medium") -> str:
    return "" if value is None else format_date(value, fmt, locale=context["locale"])


@pass_context
def _format_number(context: Context, value: float | int | None) -> str:
    return "" if value is None else format_decimal(value, locale=context["locale"])


@pass_context
def _format_money(context: Context, value: Decimal | None, currency: str) -> str:
    if value is None:
        return ""
    return format_currency(value, currency, locale=context["locale"])


@pass_context
def _format_size(context: Context, size: int) -> str:
    """A file's size in the unit that reads best: 840 byte, 12 kB, 1.4 MB."""
    for unit, factor in (("megabyte", 1024 * 1024), ("kilobyte", 1024)):
        if size >= factor:
            amount = round(size / factor, 1 if size < 10 * factor else 0)
            return format_unit(amount, f"digital-{unit}", length="short", locale=context["locale"])
    return format_unit(size, "digital-byte", length="short", locale=context["locale"])


@lru_cache(maxsize=10_000)
def _format_phone(e164: str | None) -> str:
    """+4930123456 as +49 30 123456: easier to read and to dial by hand. Cached: parsing
    is the slow part of rendering a list, and a number always looks the same."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _initials(name: str) -> str:
    """ "Ada Lovelace" as "AL": what fits in the top bar's round badge, however long the name."""
    words = name.split()
    return "".join(word[0] for word in words[:1] + words[1:][-1:]).upper()


def _make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship with the code: a restart picks up a change, as for Python. Not
        # checking every template file's time on every page saves a list page 5 %.
        auto_reload=False,
    )
    env.install_gettext_callables(_gettext, _ngettext)  # type: ignore[attr-defined]
    env.globals["_"] = _gettext  # not through the extension's alias: one call fewer
    env.filters.update(
        datetime=_format_datetime,
        date=_format_date,
        number=_format_number,
        money=_format_money,
        phone=_format_phone,
        filesize=_format_size,
        initials=_initials,
    )
    env.globals["LANGUAGES"] = LANGUAGES
    return env


environment = _make_environment()

# A template's own definitions outside its blocks: imports and macros.
_DEFINITION = re.compile(
    r"{%-?\s*(?:import|from)\b.*?%}|{%-?\s*macro\b.*?{%-?\s*endmacro\s*-?%}", re.DOTALL
)


@cache
def _prelude(template: str) -> tuple[Template, tuple[str, ...]] | None:
    """The imports and macros a template defines outside its blocks, as a template of
    their own, and their names. A block rendered as a fragment runs without the rest of
    its template, so it would miss them: `render` puts them into its context."""
    source, _, _ = environment.loader.get_source(environment, template)  # type: ignore[union-attr]
    names, lines = [], set()
    for node in environment.parse(source).body:
        if isinstance(node, nodes.Macro):
            names.append(node.name)
        elif isinstance(node, nodes.Import):
            names.append(node.target)
        elif isinstance(node, nodes.FromImport):
            names += [n if isinstance(n, str) else n[1] for n in node.names]
        else:
            continue
        lines.add(node.lineno)
    if not names:
        return None
    kept = [
        found.group(0)
        for found in _DEFINITION.finditer(source)
        if source.count("\n", 0, found.start()) + 1 in lines
    ]
    # Imported names are not exported by a module; assigned ones are.
    exports = "".join(f"{{% set {name} = {name} %}}" for name in names)
    return environment.from_string("".join(kept) + exports), tuple(names)


def fragment_names(template: str, context: dict[str, Any]) -> dict[str, Any]:
    """What a block of ``template`` needs from outside it to render on its own."""
    prelude = _prelude(template)
    if prelude is None:
        return {}
    module = prelude[0].make_module(context)
    return {name: getattr(module, name) for name in prelude[1]}


def base_context(request: Request, *, with_messages: bool = True) -> dict[str, Any]:
    state = request.state
    language = getattr(state, "language", "en")
    return {
        "request": request,
        "current_user": getattr(state, "user", None),
        "csrf_token": request.scope.get("crm_session", {}).get("csrf", ""),
        "language": language,
        "locale": best_locale(request.headers.get("accept-language"), language),
        "translations": translations(language),
        "time_zone": request_zone(request),
        # A fragment leaves queued messages for the next full page.
        "messages": pop_messages(request) if with_messages else [],
    }


def flash(request: Request, level: str, message: str, **params: Any) -> None:
    """Queue a message (an English msgid) for the next page the user sees."""
    request.scope["crm_session"].setdefault("flash", []).append([level, message, params])


def pop_messages(request: Request) -> list[tuple[str, str]]:
    session = request.scope.get("crm_session", {})
    pending = session.pop("flash", [])
    gettext = translations(getattr(request.state, "language", "en")).gettext
    return [
        (level, gettext(message) % params if params else gettext(message))
        for level, message, params in pending
    ]


def hx_target_block(request: Request) -> str | None:
    if request.headers.get("HX-Request") != "true":
        return None
    if request.headers.get("HX-History-Restore-Request") == "true":
        return None
    target = request.headers.get("HX-Target")
    return target.replace("-", "_") if target else None


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    block: str | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    page = environment.get_template(template)
    block = block or hx_target_block(request)
    if block not in page.blocks:
        block = None
    full_context = {**base_context(request, with_messages=block is None), **(context or {})}
    if block:
        full_context |= fragment_names(template, full_context)
        content = render_block(environment, template, block, full_context)
    else:
        content = page.render(full_context)
    response = HTMLResponse(content, status_code=status_code, headers=headers)
    response.headers["Vary"] = "HX-Request"
    return response


def run_change(
    request: Request,
    session: Session,
    action: Callable[[], Any],
    *,
    done: str,
    back: str,
    then: Callable[[Any], str] | None = None,
) -> Response:
    """Run one change of a page's form in a savepoint and say how it went: on success go
    to ``then`` of its result (or ``back``), else back; a refused change leaves nothing."""
    try:
        with session.begin_nested():
            result = action()
    except (ValidationError, CRMError) as exc:
        errors = FormErrors(request.state.language)
        errors.add_error(exc)
        reason = "; ".join(errors.values())
        flash(request, "error", N_("Nothing was changed: %(reason)s"), reason=reason)
        return RedirectResponse(back, status_code=303)
    flash(request, "success", done)
    return RedirectResponse(then(result) if then else back, status_code=303)


def save_form(
    request: Request,
    session: Session,
    save: Callable[[], Any],
    *,
    again: Callable[[FormErrors], Response],
    done: str,
    then: Callable[[Any], str],
) -> Response:
    """Save a page's form in a savepoint. Refused, the form comes back as typed with what
    was wrong (``again``, a 422) and nothing is kept; saved, the page says ``done`` (which
    may name what was saved as %(name)s) and goes to ``then`` of it."""
    try:
        with session.begin_nested():
            saved = save()
    except (ValidationError, CRMError) as exc:
        errors = FormErrors(request.state.language)
        errors.add_error(exc)
        return again(errors)
    flash(request, "success", done, name=getattr(saved, "name", ""))
    return RedirectResponse(then(saved), status_code=303)


class Options:
    """The ``<option>`` elements of a select that a page repeats for many rows (a reassign
    or channel picker per follow-up): rendered once per selected value instead of once per
    row, which made long lists slow."""

    def __init__(self, choices: list[tuple[Any, str]]) -> None:
        self.choices = choices
        self._rendered: dict[Any, Markup] = {}

    def __getitem__(self, selected: Any) -> Markup:
        if selected not in self._rendered:
            self._rendered[selected] = Markup("").join(
                Markup('<option value="{}"{}>{}</option>').format(
                    value, Markup(" selected") if value == selected else "", label
                )
                for value, label in self.choices
            )
        return self._rendered[selected]
