"""SpiffWorkflow's script engine, wired to the safe evaluator.

SpiffWorkflow evaluates gateway conditions, timer expressions, multi-instance
cardinalities and conditions, message correlations and script task bodies
through ``PythonScriptEngine``; its default environment passes designer text
to ``eval`` and ``exec``. :class:`SafeEnvironment` routes all of that through
:mod:`engine.expressions` instead, so a process can only do what the
expression language allows.

Errors surface in two ways, because SpiffWorkflow calls both the engine and,
in a few places (ad-hoc subprocess conditions, message correlations), the
environment directly:

- through the engine, an :class:`~engine.errors.ExpressionError` becomes a
  ``WorkflowTaskException`` naming the task, with the ExpressionError as its
  ``__cause__`` (for script tasks ``line_number`` is set too);
- through the environment, the ExpressionError itself propagates.

:func:`expression_error_in` finds the ExpressionError in either case, so a
caller can show its plain message.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping, MutableMapping

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from engine.errors import ExpressionError, InvalidProcedure
from engine.expressions import compile_expression, compile_script

SERVICE_TASKS_UNSUPPORTED = "Service tasks are not supported; model the work as a user task"


def _with_external(
    context: MutableMapping[str, object], external_context: Mapping[str, object] | None
) -> MutableMapping[str, object]:
    """Task data first, then the workflow's data objects; a ChainMap writes only to the first."""
    if not external_context:
        return context
    return ChainMap(context, external_context)


class SafeEnvironment(BasePythonScriptEngineEnvironment):
    """Evaluates and executes designer text with the whitelisted language only.

    Compiled expressions and scripts are cached by text, so a condition
    evaluated on every dossier is parsed once per process.
    """

    def __init__(self) -> None:
        super().__init__({})

    def evaluate(
        self,
        expression: str,
        context: Mapping[str, object],
        external_context: Mapping[str, object] | None = None,
    ) -> object:
        return compile_expression(expression).evaluate(_with_external(context, external_context))

    def execute(
        self,
        script: str | None,
        context: MutableMapping[str, object],
        external_context: Mapping[str, object] | None = None,
    ) -> bool:
        """Run a script task body; assignments land in ``context``, never in the data objects."""
        compile_script(script or "").execute(_with_external(context, external_context))
        return True

    def call_service(self, context: Mapping[str, object], **kwargs: object) -> object:
        raise InvalidProcedure(SERVICE_TASKS_UNSUPPORTED)


class SafeScriptEngine(PythonScriptEngine):
    """A ``PythonScriptEngine`` that reports our errors with their plain message.

    SpiffWorkflow's own wrapping keeps only the exception's class name and
    first argument; here the ExpressionError is chained as ``__cause__`` and
    its message ends up in the task exception's text.
    """

    def __init__(self, environment: SafeEnvironment | None = None) -> None:
        super().__init__(environment=environment or SafeEnvironment())

    def validate(self, expression: str) -> None:
        compile_expression(expression)

    def evaluate(self, task, expression, external_context=None):
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except ExpressionError as err:
            shown = expression if len(str(expression)) <= 80 else str(expression)[:77] + "..."
            message = f"Error evaluating expression '{shown}': {err.message}"
            raise WorkflowTaskException(message, task=task, exception=err) from err

    def execute(self, task, script, external_context=None):
        try:
            return self.environment.execute(script, task.data, external_context or {})
        except ExpressionError as err:
            line = err.problems[0].line if err.problems else None
            lines = (script or "").splitlines()
            error_line = lines[line - 1] if line and line <= len(lines) else ""
            raise WorkflowTaskException(
                f"Error in script: {err.message}",
                task=task,
                exception=err,
                line_number=line,
                error_line=error_line,
            ) from err

    def call_service(self, task, **kwargs):
        err = InvalidProcedure(SERVICE_TASKS_UNSUPPORTED)
        raise WorkflowTaskException(SERVICE_TASKS_UNSUPPORTED, task=task, exception=err) from err


def make_script_engine() -> SafeScriptEngine:
    """A fresh engine; set it on every workflow, including after deserializing one."""
    return SafeScriptEngine()


SCRIPT_ENGINE = make_script_engine()
"""A shared engine: it holds no per-workflow state, so all workflows and threads may use it."""


def expression_error_in(error: BaseException) -> ExpressionError | None:
    """The ExpressionError behind ``error`` (itself, or a cause or context of it), if any.

    Follows the chain Python would print, so an error raised ``from None``
    hides what it replaced.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ExpressionError):
            return current
        seen.add(id(current))
        if current.__cause__ is not None or current.__suppress_context__:
            current = current.__cause__
        else:
            current = current.__context__
    return None
