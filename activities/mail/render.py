"""Render a template (subject, HTML, text) for one relation, safely.

Templates are written by users, so they run in Jinja2's immutable sandbox; an undefined
variable is an error rather than an empty string (a mail saying "Dear ," is worse than
no mail); output is capped because the sandbox does not stop `{{ 'a' * 10**9 }}`.

A render error ends up in the send ledger, the trip's path, Temporal history and the
UI, so its message holds only what the template author wrote (template key, part, line,
error type, a variable name spelled in the template), never the exception's own text:
Python builds that from the values involved, which are the relation's data.
"""

from __future__ import annotations

import functools
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Protocol, cast

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, TemplateRuntimeError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

MAX_RENDERED_CHARS = 1_000_000
_MAX_EXPONENT = 1_000


class Rendering(Protocol):
    """What renders a template: a `Renderer` here, or a `RenderPool` in child processes."""

    def render(self, source: TemplateSource, context: Mapping[str, Any]) -> RenderedMail: ...


class RenderError(Exception):
    """A template that cannot be rendered; the message names the template, the part and
    the problem, never the relation's data."""


@dataclass(frozen=True)
class TemplateSource:
    key: str
    version: str  # changes whenever the template is edited; keys the compile cache
    subject: str
    html: str
    text: str | None = None


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    html: str
    text: str


class _Missing(UndefinedError):
    """An undefined value, with the name it was looked up by kept off the message: that
    name may come from the data (`{{ prices[relation.city] }}`)."""

    def __init__(self, message: str | None = None, *, name: object, owned: bool) -> None:
        super().__init__("undefined value")
        self.name = name
        self.owned = owned  # looked up in something (`relation.x`), not a top-level name


class _Undefined(StrictUndefined):
    __slots__ = ()

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = missing,
        name: str | None = None,
        exc: type[TemplateRuntimeError] = UndefinedError,
    ) -> None:
        if exc is UndefinedError:
            # Jinja raises `exc(message)`; the partial adds what the message must not hold.
            missing_value = functools.partial(_Missing, name=name, owned=obj is not missing)
            exc = cast("type[TemplateRuntimeError]", missing_value)
        super().__init__(hint, obj, name, exc)


class _TooLarge(SecurityError):
    """One of our size limits; its message is ours, not built from data."""


class _Environment(ImmutableSandboxedEnvironment):
    # Repetition and powers are the two ways to build a huge value in one expression.
    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, *, autoescape: bool, max_chars: int) -> None:
        super().__init__(autoescape=autoescape, undefined=_Undefined)
        self._max_chars = max_chars

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for sized, count in ((left, right), (right, left)):
                if (
                    isinstance(sized, (str, list, tuple))
                    and isinstance(count, int)
                    and len(sized) * count > self._max_chars
                ):
                    raise _TooLarge("repetition result too large")
        if operator == "**" and isinstance(right, int) and right > _MAX_EXPONENT:
            raise _TooLarge("exponent too large")
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        # A field wins over a dict method of the same name: `{{ event.items }}` is the
        # payload's `items`, not `dict.items` (Jinja tries attributes first).
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


@dataclass(frozen=True)
class _Part:
    template: Template
    # Names spelled in this part's source; only these may appear in an error message.
    written: frozenset[object]


@dataclass(frozen=True)
class _Compiled:
    subject: _Part
    html: _Part
    text: _Part | None


class Renderer:
    """Compiles each template version once and renders it for any number of relations.

    Thread-safe: the activity renders in worker threads.
    """

    def __init__(self, *, max_chars: int = MAX_RENDERED_CHARS, cache_size: int = 256) -> None:
        self._max_chars = max_chars
        self._html = _Environment(autoescape=True, max_chars=max_chars)
        self._plain = _Environment(autoescape=False, max_chars=max_chars)
        self._cache: OrderedDict[tuple[str, str], _Compiled] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def render(self, source: TemplateSource, context: Mapping[str, Any]) -> RenderedMail:
        compiled = self._compiled(source)
        budget = [self._max_chars]
        subject = self._run(source.key, "subject", compiled.subject, context, budget)
        html = self._run(source.key, "html", compiled.html, context, budget)
        if compiled.text is not None:
            text = self._run(source.key, "text", compiled.text, context, budget)
        else:
            text = html_to_text(html)
        # Headers are one line; a newline from a field must not break (or inject) headers.
        return RenderedMail(subject=" ".join(subject.split()), html=html, text=text)

    def _compiled(self, source: TemplateSource) -> _Compiled:
        cache_key = (source.key, source.version)
        with self._lock:
            found = self._cache.get(cache_key)
            if found is not None:
                self._cache.move_to_end(cache_key)
                return found
        compiled = _Compiled(
            subject=self._compile(source.key, "subject", self._plain, source.subject),
            html=self._compile(source.key, "html", self._html, source.html),
            text=(
                self._compile(source.key, "text", self._plain, source.text) if source.text else None
            ),
        )
        with self._lock:
            self._cache[cache_key] = compiled
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return compiled

    @staticmethod
    def _compile(key: str, part: str, env: _Environment, body: str) -> _Part:
        try:
            tree = env.parse(body)
            return _Part(template=env.from_string(tree), written=_written_names(tree))
        except TemplateSyntaxError as error:
            # Compiling sees only the template, so Jinja's message quotes only its source.
            raise RenderError(
                f"{_where(key, part, error.lineno)}: syntax error: {error.message}"
            ) from None
        except (SyntaxError, RecursionError, MemoryError):
            # Jinja turns a template into Python source; nested deeply enough (a hundred
            # `{% if %}`), Python cannot compile that: the template's fault, not a retry's.
            raise RenderError(f"{_where(key, part, None)}: nested too deeply to compile") from None

    def _run(
        self, key: str, name: str, part: _Part, context: Mapping[str, Any], budget: list[int]
    ) -> str:
        chunks: list[str] = []
        try:
            # Streamed, so an endless loop of output stops at the cap instead of at OOM.
            for chunk in part.template.generate(context):
                budget[0] -= len(chunk)
                if budget[0] < 0:
                    raise RenderError(
                        f"template '{key}' ({name}): output larger than "
                        f"{self._max_chars:,} characters"
                    )
                chunks.append(chunk)
        except RenderError:
            raise
        except Exception as error:
            # Any exception: a template can make Python raise almost anything (RecursionError
            # from a macro calling itself, UnicodeEncodeError from `.encode`, ...).
            where = _where(key, name, _template_line(error))
            raise RenderError(f"{where}: {_problem(error, part.written)}") from None
        return "".join(chunks)


def _written_names(tree: nodes.Template) -> frozenset[object]:
    """Variable and field names as spelled in the source: `customer`, `relation.plan`,
    `relation['plan']`; not a key computed by an expression."""
    names: set[object] = {node.name for node in tree.find_all(nodes.Name)}
    names.update(node.attr for node in tree.find_all(nodes.Getattr))
    names.update(
        node.arg.value for node in tree.find_all(nodes.Getitem) if isinstance(node.arg, nodes.Const)
    )
    return frozenset(names)


def _is_written(name: object, written: frozenset[object]) -> bool:
    try:
        return name in written
    except TypeError:  # an unhashable key, so certainly computed
        return False


def _where(key: str, part: str, line: int | None) -> str:
    return f"template '{key}' ({part})" + (f", line {line}" if line else "")


def _template_line(error: BaseException) -> int | None:
    """The innermost template line of the failure: Jinja rewrites the traceback so that
    frames of template code carry the template's own line numbers."""
    line = None
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_filename == "<template>":
            line = frame.tb_lineno
        frame = frame.tb_next
    return line


def _problem(error: Exception, written: frozenset[object]) -> str:
    if isinstance(error, _Missing):
        if not _is_written(error.name, written):
            return "undefined variable (looked up by a computed name, not shown)"
        if error.owned:
            kind = "field" if isinstance(error.name, str) else "item"
            return f"undefined variable: no {kind} {error.name!r}"
        return f"undefined variable {error.name!r}"
    if isinstance(error, _TooLarge):
        return str(error)
    if isinstance(error, MemoryError):
        return "needs more memory than a render may use"
    if isinstance(error, SecurityError):
        return "SecurityError: not allowed in a template"
    return f"{type(error).__name__} (its message is not shown: it may hold relation data)"


# --- a plain-text part from HTML --------------------------------------------------------

# Tags that start a paragraph, and tags that only start a line.
_PARAGRAPHS = frozenset(
    {
        "p",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "ul",
        "ol",
        "blockquote",
        "section",
        "article",
        "header",
        "footer",
        "hr",
    }
)
_LINES = frozenset({"br", "li", "tr"})
_HIDDEN = frozenset({"script", "style", "head", "title"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0
        self._href: str | None = None
        self._link_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _PARAGRAPHS:
            self.parts.append("\n\n")
        elif tag in _LINES:
            self.parts.append("\n- " if tag == "li" else "\n")
        if tag == "a":
            self._href = dict(attrs).get("href")
            self._link_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _PARAGRAPHS:
            self.parts.append("\n\n")
        if tag == "a" and self._href:
            label = "".join(self._link_text).strip()
            if self._href not in label and not self._href.startswith("#"):
                self.parts.append(f" ({self._href})")
            self._href = None

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        # In HTML a line break in the source is just a space.
        data = re.sub(r"\s+", " ", data)
        self.parts.append(data)
        if self._href is not None:
            self._link_text.append(data)


def html_to_text(html: str) -> str:
    """A readable text alternative: paragraphs kept, tags dropped, links spelled out."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = (" ".join(line.split()) for line in "".join(extractor.parts).splitlines())
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
