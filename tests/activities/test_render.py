"""Template rendering: escaping where it matters, errors that name the problem, limits."""

from __future__ import annotations

import pytest

from activities.mail.render import Renderer, RenderError, TemplateSource, html_to_text

CONTEXT = {"relation": {"first_name": "Jan & Piet", "plan": "Gold", "id": 7}}


def _source(
    html: str, subject: str = "Hi", text: str | None = None, version: str = "1"
) -> TemplateSource:
    return TemplateSource(key="welcome", version=version, subject=subject, html=html, text=text)


def test_html_is_escaped_and_subject_and_text_are_not() -> None:
    mail = Renderer().render(
        _source(
            "<p>{{ relation.first_name }}</p>",
            subject="For {{ relation.first_name }}",
            text="Dear {{ relation.first_name }}",
        ),
        CONTEXT,
    )
    assert mail.html == "<p>Jan &amp; Piet</p>"
    assert mail.subject == "For Jan & Piet"
    assert mail.text == "Dear Jan & Piet"


def test_a_subject_stays_on_one_line() -> None:
    mail = Renderer().render(
        _source("<p/>", subject="Hi {{ relation.first_name }}"),
        {"relation": {"first_name": "Jan\r\nBcc: all@example.org"}},
    )
    assert mail.subject == "Hi Jan Bcc: all@example.org"


def test_a_syntax_error_names_template_part_and_line() -> None:
    with pytest.raises(RenderError, match=r"template 'welcome' \(html\), line 2: syntax error"):
        Renderer().render(_source("<p>\n{{ relation.first_name </p>"), CONTEXT)


def test_an_unknown_top_level_variable_is_named() -> None:
    with pytest.raises(
        RenderError, match=r"^template 'welcome' \(html\), line 1: undefined variable 'customer'$"
    ):
        Renderer().render(_source("{{ customer.name }}"), CONTEXT)


def test_an_unknown_field_is_named_with_its_part_and_line() -> None:
    with pytest.raises(
        RenderError,
        match=r"^template 'welcome' \(text\), line 3: undefined variable: no field 'colour'$",
    ):
        Renderer().render(
            _source("<p/>", text="Dear {{ relation.first_name }},\n\nyour {{ relation.colour }}"),
            CONTEXT,
        )


# Values a template can drag into Python's error text; none may reach the message, which
# is stored in the ledger, the trip's path, Temporal history and the UI.
PERSONAL = {
    "relation": {
        "first_name": "Zoë",
        "email": "zoe@example.org",
        "city": "Utrecht",
        "tags": ["vip"],
    }
}
SECRETS = ("Zoë", "\\xeb", "\xeb", "zoe@example.org", "Utrecht")


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("relation[relation.city]", "undefined variable (looked up by a computed name"),
        ("relation.tags | attr(relation.email)", "undefined variable (looked up by a computed"),
        ("relation.first_name.encode('ascii')", "UnicodeEncodeError"),
        ("relation.tags.index(relation.city)", "ValueError"),
        ("relation.tags | map(relation.city) | list", "TemplateRuntimeError"),
    ],
)
def test_an_error_never_quotes_the_relations_data(expression: str, problem: str) -> None:
    with pytest.raises(RenderError) as raised:
        Renderer().render(_source(f"<p>Hello</p>\n<p>{{{{ {expression} }}}}</p>"), PERSONAL)
    message = str(raised.value)
    assert [secret for secret in SECRETS if secret in message] == []
    # What the author needs to find the mistake is still there.
    assert message.startswith(f"template 'welcome' (html), line 2: {problem}")


def test_the_sandbox_blocks_attribute_escapes() -> None:
    with pytest.raises(RenderError, match="template 'welcome'"):
        Renderer().render(_source("{{ relation.__class__.__mro__[1].__subclasses__() }}"), CONTEXT)


@pytest.mark.parametrize(
    "body",
    [
        "{{ 'a' * 10**7 }}",
        "{{ 9 ** 99999999 }}",
        "{% for i in range(100000) %}{{ 'xxxxxxxxxxxxxxxxxxxx' }}{% endfor %}",
    ],
)
def test_huge_output_is_refused(body: str) -> None:
    with pytest.raises(RenderError, match="template 'welcome' \\(html\\)"):
        Renderer(max_chars=1_000_000).render(_source(body), CONTEXT)


def test_a_new_version_of_a_template_is_compiled_again() -> None:
    renderer = Renderer()
    first = renderer.render(_source("<p>one</p>", version="a"), CONTEXT)
    same_version = renderer.render(_source("<p>changed</p>", version="a"), CONTEXT)
    new_version = renderer.render(_source("<p>two</p>", version="b"), CONTEXT)
    # One compile per version: the cache serves "a" until the version changes.
    assert (first.html, same_version.html, new_version.html) == (
        "<p>one</p>",
        "<p>one</p>",
        "<p>two</p>",
    )


def test_text_from_html_keeps_paragraphs_lists_and_links() -> None:
    html = (
        "<html><head><title>T</title><style>p{color:red}</style></head><body>"
        "<h1>Welcome</h1><p>Read   the\n  <a href='https://example.org/a'>guide</a>.</p>"
        "<ul><li>one</li><li>two &amp; three</li></ul>"
        "<p><a href='https://example.org/b'>https://example.org/b</a></p>"
        "<script>alert(1)</script></body></html>"
    )
    assert html_to_text(html) == (
        "Welcome\n\nRead the guide (https://example.org/a).\n\n"
        "- one\n- two & three\n\nhttps://example.org/b\n"
    )


def test_a_template_too_deep_for_python_fails_with_a_reason() -> None:
    # Compiles to Python nested past its indentation limit: a RenderError (the send
    # fails with this reason), not an IndentationError the activity would retry.
    html = "{% if 1 %}" * 120 + "x" + "{% endif %}" * 120
    with pytest.raises(RenderError, match=r"^template 'welcome' \(html\): nested too deeply"):
        Renderer().render(_source(html), CONTEXT)
