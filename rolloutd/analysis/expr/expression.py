"""The public face of the language: compile once, evaluate many times.

    >>> condition = compile_expression("len(result) > 0 && result[0] >= 0.95")
    >>> condition.evaluate({"result": [0.97]})
    True
    >>> evaluate_condition("result.status == 'ok'", {"result": {"status": "ok"}})
    True

An `Expression` is immutable and thread-safe; the AnalysisRun controller keeps one per condition
string. `compile_expression` also memoises recent compilations, so `evaluate_condition` is cheap
to call in a loop.

Compilation is deliberately independent of the environment: unknown names are reported when
evaluating (with a "did you mean" hint), because the same template is evaluated against results
of different shapes. `Expression.names` lists the free names a condition uses, for callers that
want to validate up front.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rolloutd.analysis.expr.errors import ExprError, ExprEvalError
from rolloutd.analysis.expr.evaluator import Evaluation
from rolloutd.analysis.expr.nodes import Call, Identifier, Node, children
from rolloutd.analysis.expr.parser import parse
from rolloutd.analysis.expr.values import describe, type_name

__all__ = ["Expression", "compile_expression", "evaluate_condition"]


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed condition, ready to be evaluated against any number of environments."""

    text: str
    root: Node = field(repr=False, compare=False)
    names: frozenset[str] = field(repr=False, compare=False)
    """Free names the expression reads from the environment (``$env`` excluded)."""
    warnings: tuple[str, ...] = field(repr=False, compare=False)
    """Things that are legal but almost certainly not what the author meant."""

    def evaluate(
        self,
        env: Mapping[str, Any],
        *,
        functions: Mapping[str, Callable[..., Any]] | None = None,
    ) -> Any:
        """Evaluate against `env`; raise `ExprEvalError` on any failure.

        `functions` adds host functions callable by name (for example ``now``). They are
        consulted after the built-ins, and anything they raise becomes an `ExprEvalError`.
        Values in `env` are data only: they are never called.
        """
        try:
            return Evaluation(self.text, env, functions).run(self.root)
        except ExprError:
            raise
        except RecursionError:
            raise ExprEvalError("value is nested too deeply to evaluate") from None
        except Exception as error:  # pragma: no cover - a bug; keep the caller's contract
            raise ExprEvalError(
                f"internal error while evaluating: {type(error).__name__}: {error}"
            ) from error


@functools.lru_cache(maxsize=1024)
def compile_expression(text: str) -> Expression:
    """Parse `text` into an `Expression`, or raise `ExprSyntaxError`.

    An empty condition is a syntax error here; deciding that an empty ``successCondition``
    means "not set" is the caller's business, as it is in Argo Rollouts.
    """
    root = parse(text)
    return Expression(text=text, root=root, names=_free_names(root), warnings=_lint(root, text))


def evaluate_condition(
    text: str,
    env: Mapping[str, Any],
    *,
    functions: Mapping[str, Callable[..., Any]] | None = None,
) -> bool:
    """Compile (memoised) and evaluate a condition that must yield true or false."""
    value = compile_expression(text).evaluate(env, functions=functions)
    if not isinstance(value, bool):
        raise ExprEvalError(
            f"condition must evaluate to true or false, got {describe(value)} ({type_name(value)})"
        )
    return value


def _walk(root: Node) -> list[Node]:
    nodes: list[Node] = []
    stack = [root]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(children(node))
    return nodes


def _free_names(root: Node) -> frozenset[str]:
    return frozenset(
        node.name for node in _walk(root) if isinstance(node, Identifier) and node.name != "$env"
    )


def _lint(root: Node, text: str) -> tuple[str, ...]:
    """Warn about Argo's `default()` / `isNil()`, which ignore their first argument."""
    warnings: list[str] = []
    for node in sorted(_walk(root), key=lambda n: n.start):
        if not (isinstance(node, Call) and node.name in ("default", "isNil") and node.args):
            continue
        first = node.args[0]
        if isinstance(first, Identifier) and first.name == "result":
            continue
        fragment = text[first.start : first.end]
        if node.name == "default":
            fallback = node.args[-1]
            advice = (
                f"to fall back when {fragment} is nil, write "
                f"({fragment} ?? {text[fallback.start : fallback.end]})"
            )
        else:
            advice = f"to test {fragment} itself, write ({fragment} == nil)"
        warnings.append(
            f"{node.name}() ignores its first argument and looks at result itself "
            f"(Argo Rollouts semantics), so {fragment} is not what is tested; {advice}"
        )
    return tuple(warnings)
