"""A step's declared fields as an HTML form, and the submitted form back as step data.

The engine owns the rules (``engine.forms.validate_submission`` with
``from_form=True``): it converts the text a browser sends and lists every
problem at once, keyed by field. This module only decides how each type is
drawn, what the browser's answer means where HTML is ambiguous (a required
yes/no question left unanswered), and how the engine's messages read in
Vietnamese next to the field they concern.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from engine.errors import Problem
from engine.forms import FieldDef

# Form keys that belong to the page, not to the step: never passed to the engine.
PAGE_KEYS = frozenset({"csrf_token", "expected_version", "submit", "action"})

_VN_DATE = re.compile(r"\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*")
_ISO_DATE = re.compile(r"\s*(\d{4})-(\d{2})-(\d{2})\s*")


@dataclass(frozen=True)
class FieldView:
    """What the template needs to draw one field."""

    key: str
    type: str
    label: str
    required: bool
    options: tuple[str, ...]
    widget: str  # text, textarea, integer, number, checkbox, yesno, date, select
    value: str  # as the input's value attribute wants it
    errors: tuple[str, ...]
    max_length: int | None = None

    @property
    def element_id(self) -> str:
        return f"field-{self.key}"

    @property
    def shown_date(self) -> str:
        """The date value written dd/mm/yyyy, for the hint next to a date input."""
        return vn_date(self.value) if self.widget == "date" else ""


def widget_for(field: FieldDef) -> str:
    if field.type == "boolean":
        return "yesno" if field.required else "checkbox"
    return {"string": "text", "text": "textarea", "integer": "integer", "number": "number", "date": "date",
            "enum": "select"}.get(field.type, "text")


def vn_date(value: object) -> str:
    """An ISO date (as stored) written dd/mm/yyyy; other text unchanged."""
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    text = str(value or "")
    match = _ISO_DATE.fullmatch(text)
    return f"{match.group(3)}/{match.group(2)}/{match.group(1)}" if match else text


def _iso_date(text: str) -> str:
    """What an ``<input type=date>`` needs: ISO text (a dd/mm/yyyy answer converted)."""
    match = _VN_DATE.fullmatch(text or "")
    if match:
        day, month, year = (int(g) for g in match.groups())
        return f"{year:04d}-{month:02d}-{day:02d}"
    return (text or "").strip()


def _stored_as_text(field: FieldDef, value: object) -> str:
    """A stored value (from earlier passes of the step) as form text."""
    if value is None:
        return ""
    if field.type == "boolean":
        return "true" if value is True else "false" if value is False else ""
    if field.type == "number" and isinstance(value, float):
        return repr(value)
    return str(value)


ECHO_LIMIT = 1_000  # the longest refill of a field that has no length limit of its own


def views(
    fields: Sequence[FieldDef],
    *,
    submitted: Mapping[str, str] | MultiDict | None = None,
    stored: Mapping[str, object] | None = None,
    problems: Iterable[Problem] = (),
) -> list[FieldView]:
    """The fields to draw: refilled from a submission when there is one, else from stored data."""
    errors: dict[str, list[str]] = {}
    for problem in problems:
        if problem.element_id:
            errors.setdefault(problem.element_id, []).append(message_for(problem))
    result = []
    for field in fields:
        widget = widget_for(field)
        if submitted is not None:
            value = submitted.get(field.key, "")
            if widget == "checkbox":
                value = "true" if value and str(value).strip().lower() in {"on", "true", "1", "yes"} else ""
        else:
            value = _stored_as_text(field, (stored or {}).get(field.key))
        if widget == "date":
            value = _iso_date(str(value))
        described = field.describe()
        if len(str(value)) > (described.get("max_length") or ECHO_LIMIT):
            value = ""  # refused as too long: not sent back, so the error page stays small
        result.append(FieldView(
            key=field.key, type=field.type, label=field.label, required=field.required, options=field.options,
            widget=widget, value=str(value), errors=tuple(errors.get(field.key, ())),
            max_length=described.get("max_length"),
        ))
    return result


def submitted_data(form: MultiDict) -> dict[str, str]:
    """The step's part of a posted form: page keys stripped, one value per key.

    Keys the step does not declare are passed on, so the engine refuses a
    tampered form instead of this page silently dropping fields.
    """
    return {key: form.get(key, "") for key in form if key not in PAGE_KEYS}


def web_problems(fields: Sequence[FieldDef], data: Mapping[str, str]) -> list[Problem]:
    """What only the page can know: a required yes/no question left unanswered.

    Radio buttons with neither chosen send nothing, which the engine must
    read as "no" for an unticked checkbox; for a required question drawn as
    Có/Không that would be a silent answer, so it is refused here.
    """
    problems = []
    for field in fields:
        if widget_for(field) == "yesno" and not str(data.get(field.key, "")).strip():
            problems.append(Problem(f"'{field.label}' needs an answer", element_id=field.key))
    return problems


def general_problems(fields: Sequence[FieldDef], problems: Iterable[Problem]) -> list[str]:
    """Messages of problems not tied to a field drawn on the page."""
    keys = {field.key for field in fields}
    return [message_for(p) for p in problems if p.element_id not in keys]


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


# The engine writes its form messages in English with the field's label in
# quotes; the label is already printed above the message, so only the rule is said.
_MESSAGES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), message) for pattern, message in (
        (r"is required$", N_("Trường này bắt buộc, xin nhập giá trị.")),
        (r"needs an answer$", N_("Xin chọn Có hoặc Không.")),
        (r"must be a whole number$", N_("Phải là số nguyên, ví dụ: 3.")),
        (r"is too large$", N_("Số quá lớn.")),
        (r"must be a finite number", N_("Số không hợp lệ hoặc quá lớn.")),
        (r"must be a number$", N_("Phải là một số, ví dụ: 120 hoặc 120,5.")),
        (r"must be a date written", N_("Ngày phải viết theo dạng dd/mm/yyyy.")),
        (r"is not a real date$", N_("Ngày này không có trên lịch.")),
        (r"must be one of: (?P<options>.*)$", N_("Xin chọn một trong các giá trị: %(options)s.")),
        (r"is too long \((?P<length>[\d,]+) characters; the limit is (?P<limit>[\d,]+)\)$",
         N_("Nội dung quá dài (%(length)s ký tự; tối đa %(limit)s).")),
        (r"contains a character that is not allowed$", N_("Nội dung có ký tự không được phép.")),
        (r"must be ticked or not$|must be true or false$", N_("Giá trị không hợp lệ, xin chọn lại.")),
        (r"must be text$", N_("Phải là văn bản.")),
        (r"^Field '(?P<key>[^']*)' is not part of this step$",
         N_("Biểu mẫu có trường «%(key)s» không thuộc bước này; xin tải lại trang.")),
        (r"has an unknown type", N_("Trường này khai báo sai kiểu dữ liệu; xin báo người thiết kế quy trình.")),
    )
)


def message_for(problem: Problem) -> str:
    """The Vietnamese message for one engine problem (the original text if unknown)."""
    for pattern, message in _MESSAGES:
        match = pattern.search(problem.message)
        if match:
            values = {k: v.replace(",", ".") if k in ("length", "limit") else v
                      for k, v in match.groupdict().items()}
            return _(message, **values)
    return problem.message


def display_value(field_type: str, value: object) -> str:
    """A stored value as a person reads it: Có/Không, dd/mm/yyyy, decimal comma."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("Có") if value else _("Không")
    if field_type == "date":
        return vn_date(value)
    if isinstance(value, int | float):
        return vn_number(value)
    return str(value)


def vn_number(value: int | float) -> str:
    """12500000 -> "12.500.000", 85.4 -> "85,4": Vietnamese separators; short numbers (years, counts) ungrouped."""
    if isinstance(value, float) and not value.is_integer():
        whole, _dot, fraction = f"{value:.6f}".rstrip("0").partition(".")
    else:
        whole, fraction = str(int(value)), ""
    sign = "-" if whole.startswith("-") else ""
    digits = whole.lstrip("-")
    if len(digits) > 4:
        digits = f"{int(digits):,}".replace(",", ".")
    return sign + digits + ("," + fraction if fraction else "")
