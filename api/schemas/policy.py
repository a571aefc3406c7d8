"""The contact-pressure policy over HTTP: the domain's model, with an example."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from domain.pressure import ContactPressure

EXAMPLE: dict[str, Any] = {
    "per_day": 2,
    "per_week": 5,
    "quiet_hours": {"start": "21:00", "end": "09:00"},
    "soft_bounce_limit": 3,
    "machine_open_seconds": 5,
}


class ContactPressureBody(ContactPressure):
    """The whole policy; a field left out takes its default (no cap, no quiet hours)."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE]})


class ContactPressurePublic(ContactPressure):
    """The policy in force for every mail judged from now on."""
