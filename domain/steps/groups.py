"""(Being built: the groups step family.)"""

from __future__ import annotations

from domain.steps.base import StepBase

STEPS: tuple[type[StepBase], ...] = ()
