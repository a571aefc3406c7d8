"""Relation tokens: an app verifies one (a pre-filled form, a soft login) and reads the
fields it carries. Made by the `encrypt` step and `{{ encrypt(...) }}` in templates
(activities/relation_tokens.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlmodel import Session, col, select

from activities.relation_tokens import Expired, NotValid, RelationTokens, keys_of
from api.deps import SessionDep
from api.schemas.common import MAX_ID
from api.schemas.tokens import TokenVerified, TokenVerify
from api.security import allow
from store.errors import Invalid, Problem
from store.keys import Scope
from store.models import Relation, utcnow

router = APIRouter(prefix="/tokens", tags=["tokens"])

_WHERE = ("body", "token")


def relation_tokens(request: Request) -> RelationTokens:
    """The API's keys, as the workers hold them (made once per app)."""
    state = request.app.state
    tokens: RelationTokens | None = getattr(state, "relation_tokens", None)
    if tokens is None:
        tokens = RelationTokens(keys_of(state.token_keys, state.signing_key))
        state.relation_tokens = tokens
    return tokens


@router.post(
    "/verify",
    dependencies=[allow(Scope.app)],
    response_model=TokenVerified,
    summary="Verify a relation token and read its fields",
    description="200 with the fields the token carries, when it was made and until when "
    "it is valid. The fields are a snapshot of the relation when the token was made; "
    "`relation_exists` says whether the relation its `id` names is still there (a token "
    "of an erased relation still decrypts: its data is in the token). 422 naming `token` "
    "when it is not valid (tampered with, made with a key no longer configured, cut "
    "short, or not a token: one message for all), or when it has expired (with the "
    "moment).",
)
def verify_token(body: TokenVerify, request: Request, session: SessionDep) -> TokenVerified:
    try:
        found = relation_tokens(request).read(body.token, utcnow())
    except Expired as error:
        message = f"the token expired at {error.expired_at.isoformat()}"
        raise Invalid([Problem(_WHERE, message, "token_expired")]) from None
    except NotValid as error:
        raise Invalid([Problem(_WHERE, str(error), "token_invalid")]) from None
    return TokenVerified(
        fields=found.fields,
        issued_at=found.issued_at,
        expires_at=found.expires_at,
        relation_exists=_exists(session, found.fields.get("id")),
    )


def _exists(session: Session, relation_id: Any) -> bool | None:
    if type(relation_id) is not int:
        return None  # no `id` among the fields
    if not 1 <= relation_id <= MAX_ID:
        return False
    found = session.exec(select(Relation.id).where(col(Relation.id) == relation_id)).first()
    return found is not None
