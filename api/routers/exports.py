"""(Being built: see the issue's part on exports.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/exports", tags=["exports"])
