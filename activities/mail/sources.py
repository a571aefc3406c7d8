"""A stored template as the renderer takes it: one definition for sends and previews."""

from __future__ import annotations

from activities.mail.render import TemplateSource
from store.models import Template


def source_of(template: Template) -> TemplateSource:
    return TemplateSource(
        key=template.key,
        # Changes with every edit, so a render process's compile cache never serves an
        # old version.
        version=f"{template.id}:{template.updated_at.isoformat()}",
        subject=template.subject,
        html=template.html,
        text=template.text,
    )
