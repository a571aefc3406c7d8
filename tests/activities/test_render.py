"""Template rendering: escaping where it matters, errors that name the problem, limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from activities.mail.render import (
    Renderer,
    RenderError,
    TemplateSource,
    recent_types,
    text_of_html,
)

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
    assert text_of_html(html) == (
        "Welcome\n\nRead the guide (https://example.org/a).\n\n"
        "* one\n* two & three\n\nhttps://example.org/b\n"
    )


def test_a_template_too_deep_for_python_fails_with_a_reason() -> None:
    # Compiles to Python nested past its indentation limit: a RenderError (the send
    # fails with this reason), not an IndentationError the activity would retry.
    html = "{% if 1 %}" * 120 + "x" + "{% endif %}" * 120
    with pytest.raises(RenderError, match=r"^template 'welcome' \(html\): nested too deeply"):
        Renderer().render(_source(html), CONTEXT)


# --- the pipeline: MJML, inlined CSS, a made text part ------------------------------------

WELCOME_MJML = """<mjml>
  <mj-head>
    <mj-style>.greeting { color: #cc0000; }</mj-style>
  </mj-head>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text css-class="greeting">Hello {{ relation.first_name }},</mj-text>
        <mj-text>Your order is on its way.</mj-text>
        <mj-button href="https://shop.example.org/orders">See your order</mj-button>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>"""


def test_an_mjml_template_becomes_html_with_inlined_styles_and_a_text_part() -> None:
    source = TemplateSource(
        key="shipped", version="1", subject="Shipped", html="", mjml=WELCOME_MJML
    )
    mail = Renderer().render(source, CONTEXT)
    # Compiled: MJML's elements are gone, its layout tables are there.
    assert "<mj-" not in mail.html and "<table" in mail.html
    # The class's rule moved into the element's own style attribute.
    assert re.search(r'class="greeting"[^>]*style="[^"]*color: #cc0000', mail.html)
    assert ".greeting" not in mail.html
    # Escaped by Jinja before compiling, and the text part is readable prose.
    assert "Jan &amp; Piet" in mail.html
    assert mail.text == (
        "Hello Jan & Piet,\nYour order is on its way.\n"
        "See your order (https://shop.example.org/orders)\n"
    )


def test_a_style_block_is_inlined_and_media_queries_stay() -> None:
    html = (
        "<html><head><style>p.note { color: green } "
        "@media (max-width: 600px) { p.note { font-size: 18px } }</style></head>"
        "<body><p class='note'>Hi {{ relation.first_name }}</p></body></html>"
    )
    mail = Renderer().render(_source(html), CONTEXT)
    assert re.search(r'<p class="note" style="color: green;?">Hi Jan &amp; Piet</p>', mail.html)
    assert "@media (max-width: 600px)" in mail.html
    assert mail.text == "Hi Jan & Piet\n"


def test_a_stylesheet_link_is_never_fetched_and_stays_as_written() -> None:
    # Port 9 (discard) on this machine: a fetch would fail the render, not hang it.
    html = (
        "<html><head><link rel='stylesheet' href='http://127.0.0.1:9/x.css'>"
        "<style>p { margin: 0 }</style></head><body><p>Hi</p></body></html>"
    )
    mail = Renderer().render(_source(html), CONTEXT)
    assert 'href="http://127.0.0.1:9/x.css"' in mail.html
    assert re.search(r'<p style="margin: 0;?">Hi</p>', mail.html)


def test_broken_mjml_names_the_template_and_mjml_and_no_data() -> None:
    source = TemplateSource(
        key="shipped",
        version="1",
        subject="Shipped",
        html="",
        mjml="<mjml><mj-body><mj-text>{{ relation.first_name }}</mj-body></mjml>",
    )
    with pytest.raises(RenderError) as raised:
        Renderer().render(source, PERSONAL)
    message = str(raised.value)
    assert message.startswith("template 'shipped' (mjml): invalid MJML")
    assert [secret for secret in SECRETS if secret in message] == []


def test_mjml_broken_only_by_the_data_does_not_quote_it() -> None:
    # Autoescape keeps data from opening tags; a template that marks data `safe` does not.
    source = TemplateSource(
        key="shipped",
        version="1",
        subject="Shipped",
        html="",
        mjml="<mjml><mj-body>{{ relation.first_name | safe }}</mj-body></mjml>",
    )
    with pytest.raises(RenderError) as raised:
        Renderer().render(source, {"relation": {"first_name": "<mj-text>Zoë"}})
    message = str(raised.value)
    assert message.startswith("template 'shipped' (mjml): invalid MJML once rendered")
    assert "Zoë" not in message


def test_mj_include_cannot_read_the_workers_files() -> None:
    source = TemplateSource(
        key="sneaky",
        version="1",
        subject="x",
        html="",
        mjml='<mjml><mj-body><mj-include path="/etc/passwd" /></mj-body></mjml>',
    )
    with pytest.raises(RenderError, match=r"^template 'sneaky' \(mjml\): invalid MJML"):
        Renderer().render(source, CONTEXT)


def test_a_written_text_part_is_kept_and_a_fragment_without_style_is_untouched() -> None:
    mail = Renderer().render(
        _source("<p>{{ relation.plan }}</p>", text="Plan: {{ relation.plan }}"), CONTEXT
    )
    assert (mail.html, mail.text) == ("<p>Gold</p>", "Plan: Gold")


# --- locale helpers -------------------------------------------------------------------------

LOCALE_TEMPLATE = (
    "{{ event.total | number }}|{{ event.total | currency('EUR') }}|"
    "{{ event.share | percent }}|{{ event.day | date('long') }}|"
    "{{ event.at | datetime('short') }}"
)
LOCALE_EVENT = {
    "total": 1234.5,
    "share": 0.256,
    "day": "2026-03-05",
    "at": datetime(2026, 7, 1, 6, 30, tzinfo=UTC),
}


@pytest.mark.parametrize(
    ("locale", "timezone", "expected"),
    [
        (
            "nl_NL",
            "Europe/Amsterdam",
            ["1.234,5", "€\u00a01.234,50", "26%", "5 maart 2026", "01-07-2026, 08:30"],
        ),
        ("nl-NL", None, ["1.234,5", "€\u00a01.234,50", "26%", "5 maart 2026", "01-07-2026, 06:30"]),
        (
            "en",
            "America/New_York",
            ["1,234.5", "€1,234.50", "26%", "March 5, 2026", "7/1/26, 2:30\u202fAM"],
        ),
        # Unknown or missing: English, never a failed mail.
        ("xx_YY", None, ["1,234.5", "€1,234.50", "26%", "March 5, 2026", "7/1/26, 6:30\u202fAM"]),
    ],
)
def test_locale_helpers_write_as_the_relation_reads(
    locale: str, timezone: str | None, expected: list[str]
) -> None:
    context = {"relation": {}, "event": LOCALE_EVENT, "locale": locale, "timezone": timezone}
    mail = Renderer().render(_source(LOCALE_TEMPLATE), context)
    assert mail.html.split("|") == expected


def test_a_date_is_the_calendar_day_where_the_relation_lives() -> None:
    late = {"at": datetime(2026, 3, 5, 23, 30, tzinfo=UTC)}
    html = "{{ event.at | date('d MMMM') }}"
    tokyo = {"event": late, "locale": "nl_NL", "timezone": "Asia/Tokyo"}
    utc = {"event": late, "locale": "nl_NL", "timezone": None}
    assert Renderer().render(_source(html), tokyo).html == "6 maart"
    assert Renderer().render(_source(html), utc).html == "5 maart"


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("relation.city | date", "filter 'date': expects a date"),
        ("relation.city | number", "filter 'number': expects a number"),
        ("relation.tags | currency('EUR')", "filter 'currency': expects a number"),
        ("relation.email | percent", "filter 'percent': expects a number"),
        ("'1e999999' | number", "filter 'number': number has more than"),
        ("1 | currency(relation.city)", "filter 'currency': the currency is a three-letter"),
    ],
)
def test_a_value_a_locale_helper_cannot_format_is_named_without_the_value(
    expression: str, problem: str
) -> None:
    with pytest.raises(RenderError) as raised:
        Renderer().render(_source(f"<p>\n{{{{ {expression} }}}}</p>"), PERSONAL)
    message = str(raised.value)
    assert message.startswith(f"template 'welcome' (html), line 2: {problem}")
    assert [secret for secret in SECRETS if secret in message] == []


def test_a_helper_on_a_missing_field_names_the_field() -> None:
    with pytest.raises(RenderError, match=r"undefined variable: no field 'birthday'$"):
        Renderer().render(_source("{{ relation.birthday | date }}"), CONTEXT)


# --- related records ----------------------------------------------------------------------


def test_the_recent_types_a_template_reads_are_found_in_every_part() -> None:
    source = TemplateSource(
        key="k",
        version="1",
        subject="{{ recent.donation[0].amount | default(0) }}",
        html="ignored when mjml is set: {{ recent.ignored }}",
        text="{% for d in recent['download'] %}{{ d.file }}{% endfor %}",
        mjml="<mjml><mj-body>{% for p in recent.purchase %}{% endfor %}</mj-body></mjml>",
    )
    assert recent_types(source) == frozenset({"donation", "download", "purchase"})
    broken = TemplateSource(key="k", version="2", subject="{% if %}", html="{{ recent.x }}")
    assert recent_types(broken) == frozenset({"x"})


def test_inlined_css_counts_towards_the_output_cap() -> None:
    # 2,000 characters of template, ~1,000 x 1,000 once the rule is copied onto each <p>.
    html = "<style>p { font-family: " + "x" * 1000 + " }</style>" + "<p></p>" * 1000
    with pytest.raises(RenderError, match=r"^template 'welcome' \(html\): output larger than"):
        Renderer(max_chars=100_000).render(_source(html), CONTEXT)
