"""Placeholder: filled in by the change that adds it."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["suppressions"])
