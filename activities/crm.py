"""CRM reads for trips: conditions are evaluated on the relation's data as it is now."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from temporalio import activity

from activities.contracts import CHECK_CONDITION, CheckConditionInput, CheckConditionResult
from activities.passages import write_passage, write_passages
from domain.conditions import evaluate, event_types_mentioned
from domain.statuses import Outcome
from store.db import session_scope
from store.facts import load_facts
from store.models import utcnow


class CrmActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name=CHECK_CONDITION)
    def check_condition(self, data: CheckConditionInput) -> CheckConditionResult:
        """Evaluate and record the branch in one transaction (with the passages still to
        write): the path always shows the branch the workflow was told to take, and why."""
        with session_scope(self._engine) as session:
            write_passages(session, data.writes)
            facts = load_facts(
                session,
                data.relation_id,
                event_types=event_types_mentioned(data.condition),
                event_id=data.event_id,
                now=utcnow(),
            )
            if facts is None:
                outcome, detail = Outcome.relation_erased, "the relation no longer exists"
                result = CheckConditionResult(result=False, reason=detail, relation_exists=False)
            else:
                evaluated = evaluate(data.condition, facts)
                outcome = Outcome.then if evaluated.result else Outcome.else_
                detail = evaluated.reason
                result = CheckConditionResult(result=evaluated.result, reason=evaluated.reason)
            write_passage(session, data.passage, outcome, detail)
        return result
