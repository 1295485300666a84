"""Judging one measurement's `result` with a metric's successCondition / failureCondition.

Argo's decision table (`EvaluateResult`):

=================  =================  ==============================================
successCondition   failureCondition   measurement phase
=================  =================  ==============================================
unset              unset              Successful
set                unset              Successful if true, else Failed
unset              set                Failed if true, else Successful
set                set                Failed if failure is true (it wins), else
                                      Successful if success is true, else Inconclusive
=================  =================  ==============================================

A condition that cannot be evaluated makes the measurement Error with
``could not evaluate successCondition "<expr>": <reason>``; when `result` is nil or empty the
reason says so first, because "no data" is the usual cause (Argo issue #2101).
Compiled conditions are cached by `rolloutd.analysis.expr.compile_expression` itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from rolloutd.analysis.expr import ExprError, evaluate_condition
from rolloutd.model.analysis import FAILED, INCONCLUSIVE, SUCCESSFUL


class ConditionError(Exception):
    """A condition failed to evaluate; the message is the measurement's message."""


def _is_empty(result: Any) -> bool:
    return result is None or (isinstance(result, list | dict | tuple) and not result)


def _evaluate(kind: str, text: str, result: Any, now: dt.datetime) -> bool:
    functions: dict[str, Callable[..., Any]] = {"now": lambda: now}
    try:
        return evaluate_condition(text, {"result": result}, functions=functions)
    except ExprError as exc:
        reason = str(exc)
        if _is_empty(result):
            reason = (
                "metric result is nil or empty: no data returned from the metric provider "
                f"({reason})"
            )
        raise ConditionError(f'could not evaluate {kind} "{text}": {reason}') from None


def judge(
    result: Any,
    *,
    success_condition: str | None,
    failure_condition: str | None,
    now: dt.datetime,
) -> str:
    """The measurement phase for `result`; raises `ConditionError` when a condition fails."""
    success = (
        _evaluate("successCondition", success_condition, result, now) if success_condition else None
    )
    failure = (
        _evaluate("failureCondition", failure_condition, result, now) if failure_condition else None
    )
    if failure:
        return FAILED
    if success is None:
        return SUCCESSFUL
    if success:
        return SUCCESSFUL
    return FAILED if failure is None else INCONCLUSIVE
