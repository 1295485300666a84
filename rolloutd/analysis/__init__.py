"""Analysis: what AnalysisTemplates and AnalysisRuns measure and how results are judged.

`rolloutd.analysis.expr` evaluates ``successCondition`` / ``failureCondition``; its public names
are re-exported here for convenience.
"""

from rolloutd.analysis.expr import (
    ExprError,
    Expression,
    ExprEvalError,
    ExprSyntaxError,
    compile_expression,
    evaluate_condition,
)

__all__ = [
    "ExprError",
    "ExprEvalError",
    "ExprSyntaxError",
    "Expression",
    "compile_expression",
    "evaluate_condition",
]
