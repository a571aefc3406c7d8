"""A stored template as the renderer takes it: one definition for sends and previews."""

from __future__ import annotations

from activities.mail.render import TemplateSource
from store.models import Template, TemplateVersion


def source_of(template: Template) -> TemplateSource:
    """The template as it is now (a preview of the draft an operator is editing)."""
    return TemplateSource(
        key=template.key,
        # Changes with every edit, so a render process's compile cache never serves an
        # old version.
        version=f"{template.id}:{template.updated_at.isoformat()}",
        subject=template.subject,
        html=template.html,
        text=template.text,
        mjml=template.mjml,
    )


def source_of_version(version: TemplateVersion) -> TemplateSource:
    """One stored version (what a journey sends): immutable, so its number (with its row
    id, unique even when a deleted key is created again) keys the compile cache."""
    return TemplateSource(
        key=version.template_key,
        version=f"v{version.version}:{version.id}",
        subject=version.subject,
        html=version.html,
        text=version.text,
        mjml=version.mjml,
    )
