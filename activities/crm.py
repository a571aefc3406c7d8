"""CRM reads for trips: conditions are evaluated on the relation's data as it is now."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from temporalio import activity

from activities.contracts import CHECK_CONDITION, CheckConditionInput, CheckConditionResult
from activities.passages import record_visit
from domain.conditions import evaluate
from store.db import session_scope
from store.facts import load_facts

RELATION_ERASED = "relation_erased"


class CrmActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name=CHECK_CONDITION)
    def check_condition(self, data: CheckConditionInput) -> CheckConditionResult:
        """Evaluate and record the branch in one transaction: the path always shows the
        branch that the workflow was told to take, with the reason."""
        visit = data.visit
        with session_scope(self._engine) as session:
            facts = load_facts(session, data.relation_id)
            if facts is None:
                outcome, detail = RELATION_ERASED, "the relation no longer exists"
                result = CheckConditionResult(result=False, reason=detail, relation_exists=False)
            else:
                evaluated = evaluate(data.condition, facts)
                outcome, detail = ("then" if evaluated.result else "else"), evaluated.reason
                result = CheckConditionResult(result=evaluated.result, reason=evaluated.reason)
            record_visit(session, visit, outcome, detail)
        return result
