"""Review and sign-off: stage results kept in the hash chain, people's sign-offs, and the
promotion question a deploy asks (SPEC "Review, sign-off and the local UI").

Sits above the store and below ``stage``, the CLI and the UI: every function here takes an
open ``Store``; ``lgaudit.review.public`` has the same verbs over a store URL.
"""

from __future__ import annotations

from lgaudit.review.promotion import Promotability, promotable
from lgaudit.review.results import (
    get_stage,
    list_stages,
    record_stage_result,
    resolve_stage,
)
from lgaudit.review.shadows import shadow_verdicts
from lgaudit.review.signoffs import DECISIONS, add_signoff, list_signoffs

__all__ = [
    "DECISIONS",
    "Promotability",
    "add_signoff",
    "get_stage",
    "list_signoffs",
    "list_stages",
    "promotable",
    "record_stage_result",
    "resolve_stage",
    "shadow_verdicts",
]
