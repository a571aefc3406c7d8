"""The links of a template: the only places a tracked click may redirect to.

A click token carries an index into this list, never a URL, so the click endpoint cannot
be turned into an open redirect. Only links written literally in the source count: an
href built by Jinja (`<a href="{{ event.url }}">`) is known only once rendered for one
relation, with that relation's data in it, so it cannot be checked when the template is
saved and such links stay untracked (they go out as written).
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

# Tags whose href becomes an <a href> in the mail: HTML's own, and MJML's (mrml compiles
# each of these to a link).
_LINKING_TAGS = frozenset(
    {"a", "mj-button", "mj-image", "mj-navbar-link", "mj-social-element", "mj-carousel-image"}
)
_JINJA_MARKS = ("{{", "{%", "{#")


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        # Attribute values come out with entities decoded (`&amp;` -> `&`), as a browser
        # (and any parser reading the rendered mail) sees them.
        super().__init__(convert_charrefs=True)
        self.links: dict[str, None] = {}  # ordered and de-duplicated

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _LINKING_TAGS:
            return
        for name, value in attrs:
            if name == "href" and value is not None:
                href = value.strip()
                if _literal_web_link(href):
                    self.links.setdefault(href, None)
                return


def _literal_web_link(href: str) -> bool:
    if any(mark in href for mark in _JINJA_MARKS):
        return False
    try:
        parts = urlsplit(href)
    except ValueError:  # e.g. an unbalanced '[' in the host
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def links_in(source: str) -> list[str]:
    """The http(s) URLs written literally in `<a href>` (and MJML link elements) of an
    HTML or MJML source, in order of first appearance, each once. Jinja in the text
    between tags is harmless to the parser: it is just text."""
    parser = _LinkParser()
    parser.feed(source)
    parser.close()
    return list(parser.links)
