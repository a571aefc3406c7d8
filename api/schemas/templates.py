from __future__ import annotations

from datetime import datetime
from typing import Annotated

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import AfterValidator, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from activities.mail.filters import LOCALE_FILTERS
from api.schemas.common import Id, Input, Key, Output

# Only parsed here, never rendered or compiled: Jinja's compiler folds constant
# expressions, so compiling `{{ 'a' | center(900000000) }}` would run it, in the API
# process. Rendering happens in render processes (activities/mail/render_pool.py).
_JINJA = ImmutableSandboxedEnvironment(autoescape=True)
# Known here so that a template using them is accepted (the check refuses unknown ones).
_JINJA.filters.update(LOCALE_FILTERS)


def _jinja_syntax(source: str) -> str:
    try:
        tree = _JINJA.parse(source)
        _check_names(tree)
    except TemplateSyntaxError as error:
        raise _syntax_error(error.lineno, error.message or "syntax error") from None
    except RecursionError:
        raise _syntax_error(1, "nested too deeply") from None
    return source


# Jinja compiles a template to Python, and Python refuses blocks nested 20 deep ("too
# many statically nested blocks") and lines indented 100 deep: refused here with a line.
MAX_BLOCK_DEPTH = 15


def _check_names(tree: nodes.Template) -> None:
    pending: list[tuple[nodes.Node, int]] = [(tree, 0)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, nodes.Stmt) and not isinstance(node, nodes.Output):
            depth += 1
            if depth > MAX_BLOCK_DEPTH:
                raise _syntax_error(
                    node.lineno, f"blocks nested more than {MAX_BLOCK_DEPTH} levels deep"
                )
        pending.extend((child, depth) for child in node.iter_child_nodes())
    # What compiling would also refuse, found from the tree: unknown filters and tests.
    for kind, known, node_type in (
        ("filter", _JINJA.filters, nodes.Filter),
        ("test", _JINJA.tests, nodes.Test),
    ):
        for node in tree.find_all(node_type):
            if node.name not in known:
                raise _syntax_error(node.lineno, f"No {kind} named '{node.name}'.")


def _syntax_error(line: int, message: str) -> PydanticCustomError:
    return PydanticCustomError(
        "template_syntax", "line {line}: {message}", {"line": line, "message": message}
    )


# A mail body beyond this is refused by receivers (Gmail clips HTML over 102 KB) long
# before it reaches its readers; the bound keeps compile and render times small.
MAX_PART_CHARS = 256 * 1024

Subject = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_jinja_syntax)]
Text = Annotated[str, Field(max_length=MAX_PART_CHARS), AfterValidator(_jinja_syntax)]


_MJML_DESCRIPTION = (
    "MJML source (Jinja over MJML), compiled to HTML at each send; when given, `html` "
    "may be left empty and is not used"
)


class TemplateBase(Input):
    name: str = Field(default="", max_length=200)
    subject: Subject = Field(examples=["Welcome, {{ relation.first_name }}"])
    mjml: Text | None = Field(default=None, description=_MJML_DESCRIPTION)
    # After mjml: its validator sees whether mjml was given.
    html: Text = Field(
        default="",
        validate_default=True,
        examples=["<p>Hello {{ relation.first_name }},</p>"],
        description="Required unless `mjml` is given",
    )
    text: Text | None = Field(
        default=None, description="Plain-text part; optional (made from the HTML when absent)"
    )

    @field_validator("html")
    @classmethod
    def _html_or_mjml(cls, value: str, info: ValidationInfo) -> str:
        # An mjml that failed its own check is absent from info.data: reported there.
        if not value.strip() and info.data.get("mjml", "invalid") is None:
            raise PydanticCustomError("missing_body", "required unless mjml is given")
        return value


class TemplateCreate(TemplateBase):
    key: Key


class TemplateUpdate(Input):
    name: str | None = Field(default=None, max_length=200)
    subject: Subject | None = None
    html: Text | None = Field(default=None, description="May be empty when the template has mjml")
    text: Text | None = None
    mjml: Text | None = Field(default=None, description=_MJML_DESCRIPTION)

    @field_validator("name", "subject", "html")
    @classmethod
    def _not_null(cls, value: str | None) -> str:
        # Runs only for fields the request sets; only `text` and `mjml` may be cleared.
        if value is None:
            raise PydanticCustomError("not_null", "may not be null")
        return value


class TemplatePublic(Output):
    key: str
    name: str
    version: int = Field(description="The latest version; every edit of the content makes one")
    subject: str
    html: str
    text: str | None
    mjml: str | None
    created_at: datetime
    updated_at: datetime


class TemplateVersionPublic(Output):
    version: int
    subject: str
    html: str
    text: str | None
    mjml: str | None
    links: list[str] = Field(
        description="The http(s) links written literally in the source, the only ones a "
        "tracked click may redirect to"
    )
    created_at: datetime


class TemplateVersionsPublic(Output):
    data: list[TemplateVersionPublic]
    count: int


class PublishRequest(Input):
    journey_id: Id = Field(description="The active journey to send the latest version from now on")


class TemplatePin(Output):
    journey_id: int
    journey_version: int
    template_key: str
    template_version: int
    published_at: datetime


class PreviewRequest(Input):
    relation_id: Id = Field(description="Whose data to render the template with")


class TemplatePreview(Output):
    subject: str
    html: str
    text: str = Field(description="The text part, made from the HTML when the template has none")


class TemplatesPublic(Output):
    data: list[TemplatePublic]
    count: int
