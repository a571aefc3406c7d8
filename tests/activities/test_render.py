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
    with pytest.raises(RenderError, match=r"template 'welcome' \(html\): syntax error on line 2"):
        Renderer().render(_source("<p>\n{{ relation.first_name </p>"), CONTEXT)


def test_an_unknown_top_level_variable_is_named() -> None:
    with pytest.raises(RenderError, match="undefined variable: 'customer' is undefined"):
        Renderer().render(_source("{{ customer.name }}"), CONTEXT)


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
