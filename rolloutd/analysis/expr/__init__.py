"""The expression language of AnalysisTemplate ``successCondition`` / ``failureCondition``.

A safe, dependency-free implementation of the part of expr-lang (github.com/expr-lang/expr) that
Argo Rollouts conditions use, plus Argo's helper functions. Source text is tokenized
(`lexer`), parsed into an immutable tree (`parser`, `nodes`), checked for the one static type
error that changes an outcome (`checker`), and walked by an evaluator (`evaluator`, with the
value model in `values`, functions in `builtins` and times in `timefns`). Nothing is ever
handed to Python's ``eval``, ``exec`` or ``compile``.

Public API::

    compile_expression(text) -> Expression        # raises ExprSyntaxError
    Expression.evaluate(env) -> Any               # raises ExprEvalError
    evaluate_condition(text, env) -> bool         # raises ExprError

See `rolloutd.analysis.expr.parser` for the grammar and operator precedences.
"""

from rolloutd.analysis.expr.errors import ExprError, ExprEvalError, ExprSyntaxError
from rolloutd.analysis.expr.expression import Expression, compile_expression, evaluate_condition

__all__ = [
    "ExprError",
    "ExprEvalError",
    "ExprSyntaxError",
    "Expression",
    "compile_expression",
    "evaluate_condition",
]
