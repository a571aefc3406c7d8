from __future__ import annotations

from datetime import datetime
from typing import Annotated

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import AfterValidator, Field, field_validator
from pydantic_core import PydanticCustomError

from api.schemas.common import Input, Key, Output

# Only parsed here, never rendered: the send activity renders with its own environment.
# The same kind of environment, so what passes here also compiles there.
_JINJA = ImmutableSandboxedEnvironment(autoescape=True)


def _jinja_syntax(source: str) -> str:
    try:
        _JINJA.parse(source)
    except TemplateSyntaxError as error:
        raise PydanticCustomError(
            "template_syntax",
            "line {line}: {message}",
            {"line": error.lineno, "message": error.message or "syntax error"},
        ) from None
    return source


# A mail body beyond this is refused by receivers (Gmail clips HTML over 102 KB) long
# before it reaches its readers; the bound keeps compile and render times small.
MAX_PART_CHARS = 256 * 1024

Subject = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_jinja_syntax)]
Body = Annotated[str, Field(min_length=1, max_length=MAX_PART_CHARS), AfterValidator(_jinja_syntax)]
Text = Annotated[str, Field(max_length=MAX_PART_CHARS), AfterValidator(_jinja_syntax)]


class TemplateBase(Input):
    name: str = Field(default="", max_length=200)
    subject: Subject = Field(examples=["Welcome, {{ relation.first_name }}"])
    html: Body = Field(examples=["<p>Hello {{ relation.first_name }},</p>"])
    text: Text | None = Field(default=None, description="Plain-text part; optional")


class TemplateCreate(TemplateBase):
    key: Key


class TemplateUpdate(Input):
    name: str | None = Field(default=None, max_length=200)
    subject: Subject | None = None
    html: Body | None = None
    text: Text | None = None

    @field_validator("name", "subject", "html")
    @classmethod
    def _not_null(cls, value: str | None) -> str:
        # Runs only for fields the request sets; only `text` may be cleared.
        if value is None:
            raise PydanticCustomError("not_null", "may not be null")
        return value


class TemplatePublic(Output):
    key: str
    name: str
    subject: str
    html: str
    text: str | None
    created_at: datetime
    updated_at: datetime


class TemplatesPublic(Output):
    data: list[TemplatePublic]
    count: int
