"""The engine's exceptions.

Every failure a user can cause has its own class so that each client (web,
API, CLI) can map it to the right answer (400, 403, 404, 409, exit code)
without parsing messages.
"""

from __future__ import annotations

from dataclasses import dataclass


class MotcuaError(Exception):
    """Base of all errors the engine raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is and what is wrong, in plain words.

    For BPMN, ``element_id`` is the id of the offending element and ``line`` its
    line in the uploaded file; for a form, ``element_id`` is the field key.
    """

    message: str
    element_id: str | None = None
    line: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {"element_id": self.element_id, "line": self.line, "message": self.message}

    def __str__(self) -> str:
        where = []
        if self.element_id:
            where.append(self.element_id)
        if self.line:
            where.append(f"line {self.line}")
        return f"[{', '.join(where)}] {self.message}" if where else self.message


class InvalidInput(MotcuaError):
    """The input is malformed or breaks a rule; ``problems`` lists each fault."""

    code = "invalid"

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        return self.message + "\n" + "\n".join(f"  - {p}" for p in self.problems)


class UnsafeXml(InvalidInput):
    """An XML document was refused before parsing (DTD, entities, size, depth)."""

    code = "unsafe_xml"


class InvalidProcedure(InvalidInput):
    """A BPMN document cannot be deployed; ``problems`` carry element ids and lines."""

    code = "invalid_procedure"


class ExpressionError(InvalidInput):
    """A designer's expression is not allowed or failed to evaluate."""

    code = "invalid_expression"


class FormError(InvalidInput):
    """Submitted step data does not match the step's declared fields."""

    code = "invalid_form"


class NotFound(MotcuaError):
    code = "not_found"


class Forbidden(MotcuaError):
    code = "forbidden"


class Conflict(MotcuaError):
    """Someone else changed the same thing first; reload and try again."""

    code = "conflict"


class RuleViolation(MotcuaError):
    """The action is not allowed in the dossier's current state."""

    code = "rule_violation"


class OrganisationError(InvalidInput):
    """The organisation file or a lane resolution is inconsistent."""

    code = "organisation"
