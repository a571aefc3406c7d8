"""Tracked mail: links rewritten to the click endpoint, the open pixel, the unsubscribe
URL, and which opens are likely a machine's. Pure: no I/O.

Only links stored for the template version are rewritten, and a click token carries
only their index (see tokens.py), so the click endpoint can never be made to redirect
anywhere else. A link that differs per relation (personalised) is left as it is.
"""

from __future__ import annotations

import html
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from html.parser import HTMLParser

from activities.mail import tokens
from activities.mail.tokens import Token

# One attribute of a start tag: its name and, when it has one, its value (quoted either
# way, or bare), with the value's span in the tag's text.
_ATTRIBUTE = re.compile(
    r"""\s*(?P<name>[^\s"'>/=]+)(?:\s*=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s"'=<>`]+)))?""",
)
_TAG_NAME = re.compile(r"<[a-zA-Z][^\s/>]*")


def click_url(base_url: str, secret: bytes, send_id: int, link: int) -> str:
    return f"{base_url.rstrip('/')}/t/c/{tokens.make(secret, Token('c', send_id, link))}"


def open_url(base_url: str, secret: bytes, send_id: int) -> str:
    return f"{base_url.rstrip('/')}/t/o/{tokens.make(secret, Token('o', send_id))}.gif"


def unsubscribe_url(base_url: str, secret: bytes, send_id: int) -> str:
    """For `List-Unsubscribe` and the mail's own unsubscribe link (RFC 8058 one-click)."""
    return f"{base_url.rstrip('/')}/u/{tokens.make(secret, Token('u', send_id))}"


def rewrite_links(
    html_text: str, links: list[str], *, send_id: int, base_url: str, secret: bytes
) -> str:
    """The HTML with every `<a href>` that is one of `links` pointing at its click URL,
    and the open pixel before `</body>`; everything else byte for byte as it was."""
    index: dict[str, int] = {}
    for i, link in enumerate(links):
        index.setdefault(link, i)
    edits: list[tuple[int, int, str]] = []
    for start, end in _href_spans(html_text):
        # What the browser would follow: entities decoded, surrounding blanks dropped.
        target = html.unescape(html_text[start:end]).strip()
        if target in index:
            url = click_url(base_url, secret, send_id, index[target])
            edits.append((start, end, html.escape(url, quote=True)))
    out: list[str] = []
    at = 0
    for start, end, replacement in edits:
        out += [html_text[at:start], replacement]
        at = end
    out.append(html_text[at:])
    return _with_pixel("".join(out), open_url(base_url, secret, send_id))


def _with_pixel(html_text: str, src: str) -> str:
    pixel = (
        f'<img src="{html.escape(src, quote=True)}" width="1" height="1" alt="" '
        'style="display:none">'
    )
    body_end = html_text.lower().rfind("</body")
    if body_end < 0:
        return html_text + pixel
    return html_text[:body_end] + pixel + html_text[body_end:]


def _href_spans(html_text: str) -> list[tuple[int, int]]:
    """The (start, end) of each `href` value of an `<a>` start tag. The parser finds the
    tags (so an `<a` inside a comment, a script or an attribute value is not one); the
    tag's own text is then read attribute by attribute, so `data-href` or an `href=`
    inside another attribute's value is never taken for the link."""
    finder = _AnchorFinder(html_text)
    finder.feed(html_text)
    finder.close()
    spans: list[tuple[int, int]] = []
    for tag_start, tag_text in finder.anchors:
        name = _TAG_NAME.match(tag_text)
        if name is None:
            continue
        for match in _ATTRIBUTE.finditer(tag_text, name.end()):
            if match.group("name").lower() != "href":
                continue
            group = next((g for g in ("dq", "sq", "bare") if match.group(g) is not None), None)
            if group is not None:
                spans.append((tag_start + match.start(group), tag_start + match.end(group)))
            break  # the first href is the one a browser uses
    return spans


class _AnchorFinder(HTMLParser):
    def __init__(self, html_text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[int, str]] = []  # (offset in the HTML, the tag's text)
        # The parser reports (line, column); lines are split at "\n" only.
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", html_text)]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        text = self.get_starttag_text()
        if tag == "a" and text is not None:
            line, column = self.getpos()
            self.anchors.append((self._line_starts[line - 1] + column, text))


# --- Machine opens -------------------------------------------------------------------

# The link scanners of mail gateways and some clients fetch every image of a mail whether
# or not a person reads it. Matched case-insensitively. Gmail's and Yahoo's image proxies
# are not here: they fetch when the person opens the mail (then cache), so their opens
# are human; flagging them would put a Gmail-heavy list's open rate near zero.
_MACHINE_AGENTS = (
    "outlook-iosandroid",  # Outlook mobile prefetches on sync
    "barracuda",
    "mimecast",
    "proofpoint",
    "symantec",
    "trendmicro",
    "bot",
    "crawler",
    "spider",
    "python-requests",
    "go-http-client",
    "curl/",
    "wget/",
)
# Apple Mail Privacy Protection loads images from Apple's own network, 17.0.0.0/8, when
# the mail arrives, not when it is read.
_APPLE_PRIVACY_PROXY = ipaddress.ip_network("17.0.0.0/8")
# A gateway's scanner fetches within seconds of delivery; a person rarely opens that fast
# (the workspace sets how fast: ContactPressure.machine_open_seconds).
SCANNER_WINDOW = timedelta(seconds=5)


@dataclass(frozen=True)
class OpenRequest:
    """What the open pixel's request tells: the user agent, the client's address (as
    the server sees it: behind a reverse proxy, uvicorn must be told to trust its
    X-Forwarded-For, `--forwarded-allow-ips`, or every open comes from the proxy), and
    when the mail went out."""

    user_agent: str
    client_ip: str | None
    sent_at: datetime | None
    at: datetime
    scanner_window: timedelta = SCANNER_WINDOW  # zero: never judged by speed alone


def machine_open(request: OpenRequest) -> str | None:
    """Why this open is likely a machine's, or None when a person probably opened it."""
    agent = request.user_agent.lower()
    for marker in _MACHINE_AGENTS:
        if marker in agent:
            return f"user agent {marker}"
    if request.client_ip:
        try:
            address = ipaddress.ip_address(request.client_ip)
        except ValueError:
            address = None
        if address is not None and address in _APPLE_PRIVACY_PROXY:
            return "Apple Mail Privacy Protection"
    if request.sent_at is not None and request.at - request.sent_at < request.scanner_window:
        return "opened within seconds of sending"
    return None
