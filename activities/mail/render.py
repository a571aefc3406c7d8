"""Render a template (subject, HTML, text) for one relation, safely.

Templates are written by users, so they run in Jinja2's immutable sandbox; an undefined
variable is an error rather than an empty string (a mail saying "Dear ," is worse than
no mail); output is capped because the sandbox does not stop `{{ 'a' * 10**9 }}`.

A render error ends up in the send ledger, the trip's path, Temporal history and the
UI, so its message holds only what the template author wrote (template key, part, line,
error type, a variable name spelled in the template), never the exception's own text:
Python builds that from the values involved, which are the relation's data.

The pipeline: Jinja renders the parts (an MJML source, when the template has one, is
rendered and then compiled to HTML by mrml); the CSS of `<style>` blocks is inlined into
`style=` attributes (many mail clients drop `<style>`); a template without a text part
gets one made from the final HTML (inscriptis).
"""

from __future__ import annotations

import functools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast

import css_inline
import mrml
from inscriptis import get_text  # type: ignore[import-untyped]  # ships no types
from inscriptis.model.config import ParserConfig  # type: ignore[import-untyped]
from inscriptis.model.tag import CustomHtmlTagHandlerMapping  # type: ignore[import-untyped]
from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes, pass_context
from jinja2.exceptions import SecurityError, TemplateRuntimeError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from activities.mail.filters import LOCALE_FILTERS, FilterValueError
from activities.relation_tokens import RelationTokens, TooLarge
from domain.steps.tokens import DEFAULT_LIFETIME, MAX_FIELDS, MAX_LIFETIME, field_problem, lifetime

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
    html: str  # ignored when `mjml` is set
    text: str | None = None
    mjml: str | None = None


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
        self.filters.update(LOCALE_FILTERS)
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
    html: _Part  # the MJML when the template has it
    text: _Part | None
    mjml: bool


class Renderer:
    """Compiles each template version once and renders it for any number of relations.

    Thread-safe: the activity renders in worker threads.
    """

    def __init__(
        self,
        *,
        max_chars: int = MAX_RENDERED_CHARS,
        cache_size: int = 256,
        token_keys: Sequence[str] = (),
    ) -> None:
        self._max_chars = max_chars
        self._html = _Environment(autoescape=True, max_chars=max_chars)
        self._plain = _Environment(autoescape=False, max_chars=max_chars)
        helper = encrypt_helper(RelationTokens(token_keys) if token_keys else None)
        for env in (self._html, self._plain):
            env.globals["encrypt"] = helper
        self._cache: OrderedDict[tuple[str, str], _Compiled] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        # Never fetches: a stylesheet URL in a template must not make the worker call out.
        # <link> tags stay as written (a web font) and at-rules (@media) stay in <style>,
        # where inline attributes cannot express them.
        self._inliner = css_inline.CSSInliner(
            keep_at_rules=True, keep_link_tags=True, load_remote_stylesheets=False
        )

    def render(self, source: TemplateSource, context: Mapping[str, Any]) -> RenderedMail:
        compiled = self._compiled(source)
        budget = [self._max_chars]
        subject = self._run(source.key, "subject", compiled.subject, context, budget)
        if compiled.mjml:
            assert source.mjml is not None
            mjml = self._run(source.key, "mjml", compiled.html, context, budget)
            html = _compile_mjml(source.key, mjml, source.mjml)
        else:
            html = self._run(source.key, "html", compiled.html, context, budget)
        html = self._inline_css(source.key, html)
        # Compiling and inlining grow the HTML (a rule copied onto every element it matches).
        if len(html) > self._max_chars:
            part = "mjml" if compiled.mjml else "html"
            raise RenderError(
                f"template '{source.key}' ({part}): output larger than "
                f"{self._max_chars:,} characters once compiled and inlined"
            )
        if compiled.text is not None:
            text = self._run(source.key, "text", compiled.text, context, budget)
        else:
            text = text_of_html(html)
        # Headers are one line; a newline from a field must not break (or inject) headers.
        return RenderedMail(subject=" ".join(subject.split()), html=html, text=text)

    def _inline_css(self, key: str, html: str) -> str:
        # Without a <style> block there is nothing to inline: the HTML is left exactly as
        # rendered (inlining would also re-serialise it and wrap a fragment in <html>).
        if not _STYLE_BLOCK.search(html):
            return html
        try:
            return self._inliner.inline(html)
        except (css_inline.InlineError, ValueError):
            raise RenderError(f"template '{key}' (html): its CSS cannot be inlined") from None

    def _compiled(self, source: TemplateSource) -> _Compiled:
        cache_key = (source.key, source.version)
        with self._lock:
            found = self._cache.get(cache_key)
            if found is not None:
                self._cache.move_to_end(cache_key)
                return found
        body = (
            self._compile(source.key, "mjml", self._html, source.mjml)
            if source.mjml
            else self._compile(source.key, "html", self._html, source.html)
        )
        compiled = _Compiled(
            subject=self._compile(source.key, "subject", self._plain, source.subject),
            html=body,
            text=(
                self._compile(source.key, "text", self._plain, source.text) if source.text else None
            ),
            mjml=bool(source.mjml),
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
    if isinstance(error, (_TooLarge, FilterValueError)):
        return str(error)
    if isinstance(error, MemoryError):
        return "needs more memory than a render may use"
    if isinstance(error, SecurityError):
        return "SecurityError: not allowed in a template"
    return f"{type(error).__name__} (its message is not shown: it may hold relation data)"


# --- relation tokens ---------------------------------------------------------------------


def encrypt_helper(tokens: RelationTokens | None) -> Callable[..., str]:
    """`{{ encrypt('id', 'email', expires_in='P7D') }}`: a token (activities/relation_tokens)
    of those fields of the relation being rendered, valid from now (the send's moment)
    for `expires_in` (default P30D). Its messages name the argument's position, never
    its value: a field name may have been computed from the relation's data."""

    @pass_context
    def encrypt(context: Context, *fields: object, expires_in: object = DEFAULT_LIFETIME) -> str:
        if tokens is None:
            raise FilterValueError("encrypt(): this renderer was given no token keys")
        if not 1 <= len(fields) <= MAX_FIELDS:
            raise FilterValueError(
                f"encrypt(): name 1 to {MAX_FIELDS} fields, e.g. encrypt('id', 'email')"
            )
        for position, name in enumerate(fields, start=1):
            if field_problem(name) is not None:
                raise FilterValueError(
                    f"encrypt(): argument {position} is not a field a token can carry "
                    "(id, external_id, email, first_name, ... or a custom field's name)"
                )
        try:
            valid_for = lifetime(expires_in) if isinstance(expires_in, str) else None
        except ValueError:
            valid_for = None
        if valid_for is None:
            raise FilterValueError(
                "encrypt(): expires_in is an ISO-8601 duration of at most "
                f"P{MAX_LIFETIME.days}D, e.g. 'P7D'"
            )
        relation = context.get("relation")
        found = relation if isinstance(relation, Mapping) else {}
        values = {str(name): found.get(str(name)) for name in fields}
        now = datetime.now(UTC)
        try:
            return tokens.make(values, issued_at=now, expires_at=now + valid_for)
        except TooLarge as error:
            raise FilterValueError(f"encrypt(): {error}") from None

    return encrypt


# --- MJML, CSS and the text part ----------------------------------------------------------

_STYLE_BLOCK = re.compile(r"<style[\s>]", re.IGNORECASE)

# mj-include would read files (or URLs) of the worker: a template may not.
_MJML_PARSER = mrml.ParserOptions(include_loader=mrml.noop_loader())


def _compile_mjml(key: str, rendered: str, written: str) -> str:
    try:
        return mrml.to_html(rendered, parser_options=_MJML_PARSER).content
    except MemoryError:
        raise
    except Exception:  # mrml raises OSError for bad MJML; anything else is as unsendable
        pass
    # The compiler's message quotes the input, which now holds relation data. Compiling
    # the source as written tells whether the fault is there, in the author's own text.
    try:
        mrml.to_html(written, parser_options=_MJML_PARSER)
    except Exception as error:
        raise RenderError(f"template '{key}' (mjml): invalid MJML: {error}") from None
    raise RenderError(
        f"template '{key}' (mjml): invalid MJML once rendered (the compiler's message is "
        "not shown: it may quote relation data)"
    )


def _written(block: object) -> str:
    # The raw text so far: the public `content` property trims a trailing space as it
    # reads, which would glue the link's label to the word before it.
    written = getattr(block, "_content", "")
    return written if isinstance(written, str) else ""


def _link_handlers() -> Any:
    """Links as "label (https://...)": readable in any mail client, unlike inscriptis's
    own "[label](https://...)". A label that is the address itself is not repeated."""
    opened: list[tuple[str, object, int]] = []

    def start(state: Any, attrs: dict[str, str]) -> None:
        href = (attrs.get("href") or "").strip()
        if href.lower().startswith("mailto:"):
            href = href[len("mailto:") :].split("?", 1)[0]
        elif not href.lower().startswith(("http://", "https://")):
            href = ""  # anchors, javascript:, template leftovers: nothing to show
        block = state.canvas.current_block
        opened.append((href, block, len(_written(block))))

    def end(state: Any) -> None:
        if not opened:
            return
        href, block, start_at = opened.pop()
        if not href:
            return
        current = state.canvas.current_block
        label = _written(current)[start_at:] if current is block else ""
        if label.strip() != href:
            state.tags[-1].write(f" ({href})")

    return CustomHtmlTagHandlerMapping(start_tag_mapping={"a": start}, end_tag_mapping={"a": end})


def text_of_html(html: str) -> str:
    """A readable text part made from the HTML: paragraphs and lists kept, links spelled
    out, layout tables flattened."""
    if not html.strip():
        return ""
    config = ParserConfig(custom_html_tag_handler_mapping=_link_handlers())
    lines = (line.strip() for line in get_text(html, config).splitlines())
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


# --- related records --------------------------------------------------------------------

_PARSER = ImmutableSandboxedEnvironment()  # parses only: nothing is compiled or run


@functools.lru_cache(maxsize=512)
def recent_types(source: TemplateSource) -> frozenset[str]:
    """The event types a template reads from `recent` (`recent.purchase`,
    `recent['purchase']`): only these are loaded for a render. A name reached any other
    way (`{% set r = recent %}{{ r.purchase }}`) is not found, and rendering then names
    it as an undefined field."""
    found: set[str] = set()
    for part in (source.subject, source.mjml or source.html, source.text or ""):
        try:
            tree = _PARSER.parse(part)
        except (TemplateSyntaxError, RecursionError):
            continue  # rendering reports it, with its line
        for attr in tree.find_all(nodes.Getattr):
            if _is_recent(attr.node):
                found.add(attr.attr)
        for item in tree.find_all(nodes.Getitem):
            if (
                _is_recent(item.node)
                and isinstance(item.arg, nodes.Const)
                and isinstance(item.arg.value, str)
            ):
                found.add(item.arg.value)
    return frozenset(found)


def _is_recent(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Name) and node.name == "recent"
