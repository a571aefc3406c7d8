"""(Being built: the relations step family.)"""

from __future__ import annotations

from domain.steps.base import StepBase

STEPS: tuple[type[StepBase], ...] = ()
