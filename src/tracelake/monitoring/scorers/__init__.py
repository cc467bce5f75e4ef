"""Scorers: LLM judges and `@scorer` functions that judge production traces (docs/scorers.md).

Importing this package is cheap: the worker, judge client and registry load when first used.
"""

from __future__ import annotations

from tracelake.monitoring.scorers.base import CodeScorer, Scorer, ScoringContext, scorer
from tracelake.monitoring.scorers.feedback import Feedback
from tracelake.monitoring.scorers.judges import (
    ConversationCompleteness,
    Correctness,
    Guidelines,
    LLMJudge,
    RelevanceToQuery,
    RetrievalGroundedness,
    RetrievalRelevance,
    Safety,
    ToolCallCorrectness,
    UserFrustration,
)
from tracelake.monitoring.scorers.registry import (
    ScorerRegistration,
    delete_scorer,
    get_scorer,
    list_scorers,
    set_scorer_state,
    update_scorer,
)

__all__ = [
    "CodeScorer",
    "ConversationCompleteness",
    "Correctness",
    "Feedback",
    "Guidelines",
    "LLMJudge",
    "RelevanceToQuery",
    "RetrievalGroundedness",
    "RetrievalRelevance",
    "Safety",
    "Scorer",
    "ScorerRegistration",
    "ScoringContext",
    "ToolCallCorrectness",
    "UserFrustration",
    "delete_scorer",
    "get_scorer",
    "list_scorers",
    "scorer",
    "set_scorer_state",
    "update_scorer",
]
