"""Jinja filters that write dates, numbers and amounts the way the relation reads them.

`{{ event.amount | currency('EUR') }}` is "€ 1.234,50" for a relation whose locale is
nl_NL and "€1,234.50" for one in en. The locale (and the timezone, for `datetime`) come
from the render context (store.facts.render_context puts them there), so one template
serves every relation. A value a filter cannot format is a FilterValueError whose
message names the filter and what it expects, never the value: that is relation data.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal, format_percent
from jinja2 import Undefined, pass_context
from jinja2.runtime import Context

DEFAULT_LOCALE = "en"
# Digits before the decimal point a number may have: a payload's "1e999999999" would
# otherwise print a billion digits.
_MAX_DIGITS = 40
_NAMED_FORMATS = ("short", "medium", "long", "full")


class FilterValueError(ValueError):
    """A value a locale filter cannot format; the message is ours, without the value."""


@functools.lru_cache(maxsize=256)
def _locale(name: str | None) -> Locale:
    if name:
        try:
            return Locale.parse(name.replace("-", "_"))
        except (UnknownLocaleError, ValueError, TypeError):
            pass  # a relation's locale is data: an odd one falls back, it does not fail
    return Locale.parse(DEFAULT_LOCALE)


@functools.lru_cache(maxsize=256)
def _zone(name: str | None) -> tzinfo:
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC


def _locale_of(context: Context) -> Locale:
    name = context.get("locale")
    return _locale(name if isinstance(name, str) else None)


def _zone_of(context: Context) -> tzinfo:
    name = context.get("timezone")
    return _zone(name if isinstance(name, str) else None)


def _defined(value: Any) -> Any:
    if isinstance(value, Undefined):
        str(value)  # raises the undefined-variable error, which names what is missing
    return value


def _format_arg(name: str, form: Any) -> str:
    if not isinstance(form, str) or not form:
        raise FilterValueError(
            f"filter '{name}': the format is one of {', '.join(_NAMED_FORMATS)} or a pattern"
        )
    return form


def _as_datetime(name: str, value: Any) -> datetime | date:
    value = _defined(value)
    if isinstance(value, (datetime, date)):
        return value
    if isinstance(value, str):
        try:
            if len(value.strip()) == 10:
                return date.fromisoformat(value.strip())
            return datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise FilterValueError(f"filter '{name}': expects a date, a date-time or an ISO 8601 string")


def _aware(moment: datetime) -> datetime:
    # Stored times are UTC; a naive one (from a payload) is read as UTC too.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _as_number(name: str, value: Any) -> Decimal | int | float:
    value = _defined(value)
    number: Decimal | int | float
    if isinstance(value, bool):
        raise FilterValueError(f"filter '{name}': expects a number")
    if isinstance(value, (int, float, Decimal)):
        number = value
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise FilterValueError(f"filter '{name}': expects a number") from None
    else:
        raise FilterValueError(f"filter '{name}': expects a number")
    checked = number if isinstance(number, Decimal) else Decimal(number)
    if not checked.is_finite():
        raise FilterValueError(f"filter '{name}': expects a finite number")
    if checked and checked.adjusted() >= _MAX_DIGITS:
        raise FilterValueError(f"filter '{name}': number has more than {_MAX_DIGITS} digits")
    return number


def _babel(name: str, call: Callable[[], str]) -> str:
    try:
        return call()
    except FilterValueError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, InvalidOperation, LookupError):
        # Babel's messages quote the value or the pattern; only the filter is named.
        raise FilterValueError(f"filter '{name}': cannot format this value") from None


@pass_context
def date_filter(context: Context, value: Any, form: Any = "medium") -> str:
    """`{{ p.occurred_at | date }}`, `| date('long')`, `| date('d MMMM y')`."""
    moment = _as_datetime("date", value)
    pattern = _format_arg("date", form)
    if isinstance(moment, datetime):
        # The calendar day where the relation lives: 23:30 UTC is tomorrow in Tokyo.
        moment = _aware(moment).astimezone(_zone_of(context)).date()
    day = moment
    return _babel("date", lambda: format_date(day, pattern, locale=_locale_of(context)))


@pass_context
def datetime_filter(context: Context, value: Any, form: Any = "medium") -> str:
    """`{{ event.starts_at | datetime('short') }}`, in the relation's timezone if it has one."""
    moment = _as_datetime("datetime", value)
    pattern = _format_arg("datetime", form)
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    aware = _aware(moment)
    return _babel(
        "datetime",
        lambda: format_datetime(
            aware, pattern, tzinfo=_zone_of(context), locale=_locale_of(context)
        ),
    )


@pass_context
def number_filter(context: Context, value: Any, form: Any = None) -> str:
    """`{{ p.total | number }}`: 1.234,5 in nl_NL; a pattern such as '#,##0.00' as well."""
    number = _as_number("number", value)
    pattern = None if form is None else _format_arg("number", form)
    return _babel(
        "number", lambda: format_decimal(number, format=pattern, locale=_locale_of(context))
    )


@pass_context
def currency_filter(context: Context, value: Any, code: Any = "EUR") -> str:
    """`{{ event.amount | currency('EUR') }}`."""
    number = _as_number("currency", value)
    if not (isinstance(code, str) and len(code) == 3 and code.isalpha()):
        raise FilterValueError("filter 'currency': the currency is a three-letter ISO 4217 code")
    upper = code.upper()
    return _babel("currency", lambda: format_currency(number, upper, locale=_locale_of(context)))


@pass_context
def percent_filter(context: Context, value: Any, form: Any = None) -> str:
    """`{{ 0.256 | percent }}`: 26%; a pattern such as '#,##0.0%' as well."""
    number = _as_number("percent", value)
    pattern = None if form is None else _format_arg("percent", form)
    return _babel(
        "percent", lambda: format_percent(number, format=pattern, locale=_locale_of(context))
    )


LOCALE_FILTERS: dict[str, Callable[..., str]] = {
    "date": date_filter,
    "datetime": datetime_filter,
    "number": number_filter,
    "currency": currency_filter,
    "percent": percent_filter,
}
