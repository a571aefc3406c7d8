"""(Being built: see the issue's part on imports.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/imports", tags=["imports"])
