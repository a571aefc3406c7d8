"""A stored template as the renderer takes it: one definition for sends and previews."""

from __future__ import annotations

import hashlib

from activities.mail.render import TemplateSource
from store.models import Template, TemplateVersion


def _source(key: str, row: Template | TemplateVersion) -> TemplateSource:
    parts = (row.subject, row.html, row.text or "", row.mjml or "")
    return TemplateSource(
        key=key,
        # Keys the render processes' compile cache: the content itself, so no edit, no
        # re-created key and no other database (the tests share one render pool) can
        # ever be served another template's compiled code.
        version=hashlib.sha256("\0".join(parts).encode()).hexdigest(),
        subject=row.subject,
        html=row.html,
        text=row.text,
        mjml=row.mjml,
    )


def source_of(template: Template) -> TemplateSource:
    """The template as it is now (a preview of the draft an operator is editing)."""
    return _source(template.key, template)


def source_of_version(version: TemplateVersion) -> TemplateSource:
    """One stored version: what a journey sends."""
    return _source(version.template_key, version)
