from __future__ import annotations

from datetime import datetime
from typing import Annotated

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import AfterValidator, Field, field_validator
from pydantic_core import PydanticCustomError

from api.schemas.common import Id, Input, Key, Output

# Only parsed here, never rendered or compiled: Jinja's compiler folds constant
# expressions, so compiling `{{ 'a' | center(900000000) }}` would run it, in the API
# process. Rendering happens in render processes (activities/mail/render_pool.py).
_JINJA = ImmutableSandboxedEnvironment(autoescape=True)


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


class PreviewRequest(Input):
    relation_id: Id = Field(description="Whose data to render the template with")


class TemplatePreview(Output):
    subject: str
    html: str
    text: str = Field(description="The text part, made from the HTML when the template has none")


class TemplatesPublic(Output):
    data: list[TemplatePublic]
    count: int
