"""Turning pydantic validation errors into translated messages per form field."""

from typing import Any

from pydantic import ValidationError

from crm.core.errors import N_, CRMError, Invalid
from crm.core.i18n import translations

# Our own msgids for pydantic's error types, so that form errors are translated.
ERROR_MESSAGES = {
    "missing": N_("This field is required."),
    "string_too_short": N_("Enter at least %(min_length)s characters."),
    "string_too_long": N_("Enter at most %(max_length)s characters."),
    "too_short": N_("Choose at least one."),
    "enum": N_("Choose one of the offered values."),
    "literal_error": N_("Choose one of the offered values."),
    "int_parsing": N_("Enter a whole number."),
}
EMAIL_INVALID = N_("Enter a valid e-mail address.")
PHONE_INVALID = N_("Enter a valid phone number.")
INVALID_VALUE = N_("This value is not valid.")


def validation_messages(exc: ValidationError) -> list[tuple[str, str, dict[str, Any]]]:
    """(field, msgid, parameters) for each of pydantic's errors; the field is the first
    part of the error's location, "" when it has none."""
    messages = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        message = ERROR_MESSAGES.get(error["type"])
        if error.get("input") is None and error["type"].endswith("_type"):
            message = ERROR_MESSAGES["missing"]  # an empty field, stripped to None
        if message is None:
            text = str(error.get("msg", ""))
            message = (
                EMAIL_INVALID
                if "email" in text
                else PHONE_INVALID
                if "phone" in text
                else INVALID_VALUE
            )
        params = {k: v for k, v in error.get("ctx", {}).items() if isinstance(v, int | str)}
        messages.append((field, message, params))
    return messages


class FormErrors(dict[str, str]):
    """Field name -> translated message; ``""`` holds errors that belong to no field."""

    def __init__(self, language: str) -> None:
        super().__init__()
        self.gettext = translations(language).gettext

    def add(self, field: str, message: str, **params: Any) -> None:
        text = self.gettext(message)
        self.setdefault(field, text % params if params else text)

    def add_validation_error(self, exc: ValidationError) -> None:
        for field, message, params in validation_messages(exc):
            self.add(field, message, **params)

    def add_error(self, exc: ValidationError | CRMError) -> None:
        if isinstance(exc, ValidationError):
            self.add_validation_error(exc)
        else:
            self.add_crm_error(exc)

    def add_crm_error(self, exc: CRMError) -> None:
        self.add(
            exc.field if isinstance(exc, Invalid) and exc.field else "", exc.message, **exc.params
        )


def changed_fields(saved: Any, sent: Any, *, skip: set[str]) -> list[tuple[str, str, str]]:
    """(field, saved value, sent value) where two versions of one form differ: what a
    user who edited an older version sees side by side with what was saved meanwhile."""
    return [
        (name, getattr(saved, name), getattr(sent, name))
        for name in type(saved).model_fields
        if name not in skip and getattr(saved, name).strip() != getattr(sent, name).strip()
    ]


def picked_id(value: str, *, find: str = "", field: str, required: bool = False) -> int | None:
    """The id a finder's radio buttons sent (the `finder` macro). A name typed into the
    finder with none of its results chosen is a mistake to point out, not a blank."""
    value = value.strip()
    if value.isdigit():
        return int(value)
    if value:
        raise Invalid(N_("Choose one of the offered values."), field=field)
    if find.strip():
        raise Invalid(N_("Choose one of the results, or clear the search."), field=field)
    if required:
        raise Invalid(N_("This field is required."), field=field)
    return None
