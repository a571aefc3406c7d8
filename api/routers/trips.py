from __future__ import annotations

from fastapi import APIRouter

from api.deps import SessionDep
from api.schemas.trips import Passage, TripPublic, TripSummary
from api.security import allow
from store import trips
from store.keys import Scope

router = APIRouter(prefix="/trips", tags=["trips"])


@router.get(
    "/{trip_id}",
    dependencies=[allow(Scope.support)],
    response_model=TripPublic,
    description="The trip and its path: every step it passed, when it arrived and left, "
    "the outcome and why (e.g. the branch an `if` took).",
)
def read_trip(trip_id: str, session: SessionDep) -> TripPublic:
    trip = trips.get(session, trip_id)
    summary = TripSummary.model_validate(trip)
    path = [
        Passage(
            seq=p.seq,
            step_id=p.step_id,
            type=p.step_type,
            entered_at=p.entered_at,
            left_at=p.left_at,
            outcome=p.outcome,
            detail=p.detail,
            waiting_until=p.waiting_until,
        )
        for p in trips.path(session, trip)
    ]
    return TripPublic(**summary.model_dump(), path=path)
