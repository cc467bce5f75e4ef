"""Production monitoring: the Delta Lake archive of traces, and scorers judging production traffic.

`tracelake monitor` runs both (see `tracelake.monitoring.worker`).
"""

from __future__ import annotations

# --- scorers (docs/scorers.md) ---------------------------------------------------------------------
from tracelake.monitoring.scorers import (
    CodeScorer,
    ConversationCompleteness,
    Correctness,
    Feedback,
    Guidelines,
    LLMJudge,
    RelevanceToQuery,
    RetrievalGroundedness,
    RetrievalRelevance,
    Safety,
    Scorer,
    ScorerRegistration,
    ScoringContext,
    ToolCallCorrectness,
    UserFrustration,
    delete_scorer,
    get_scorer,
    list_scorers,
    scorer,
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
