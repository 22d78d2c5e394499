"""Custom messages as Jinja2 templates: checked and compiled once, rendered once per user.

An admin writes one message; each user gets it with their own name in it. Rendering runs in
Jinja's sandbox (autoescaped for HTML, ``StrictUndefined``, no loader), and ``compile`` first
allows only a small, loop-free part of the language: output, ``if``, ``set``, the variables
below, a few filters and methods, and refuses a template whose output or any value it builds
could pass what Telegram reads (``size_bound.py``: ``{% set a = a ~ a %}`` doubles a string
each line). So a template can neither reach Python internals nor make a run over 100k
users slow: its render time and memory are bounded by its size.

Variables: ``user`` (first_name, last_name, username, language_code, full_name; a missing
one is ""), ``job`` (name, description), ``now`` and ``scheduled_for`` (datetimes in the
job's timezone; ``now`` is taken once per run, so every user sees the same) and ``date``
(the local date of scheduled_for, as YYYY-MM-DD).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from job_scheduler.errors import InvalidMessage
from job_scheduler.messages.size_bound import (
    LANGUAGE_CODE_CHARS,
    NAME_CHARS,
    USERNAME_CHARS,
    check_size_bound,
)
from job_scheduler.messages.telegram_html import (
    HTML,
    MAX_CAPTION_LENGTH,
    MAX_MESSAGE_LENGTH,
    MarkupMemo,
    check_message_text,
    check_parse_mode,
)
from job_scheduler.model import Recipient
from job_scheduler.schedule.zoned import as_utc, load_zone

MAX_TEMPLATE_BYTES = 16 * 1024

USER_FIELDS = ("first_name", "last_name", "username", "language_code", "full_name")
JOB_FIELDS = ("name", "description")
VARIABLES = ("user", "job", "now", "scheduled_for", "date")
FILTERS = frozenset(
    {"capitalize", "default", "d", "e", "escape", "first", "last", "length", "count", "lower"}
    | {"upper", "title", "trim", "truncate", "striptags", "string"}
)
TESTS = frozenset({"defined", "undefined", "none", "string", "eq", "ne", "in", "lower", "upper"})
METHODS = frozenset(
    {"strftime", "isoformat", "weekday", "isoweekday", "upper", "lower", "title", "capitalize"}
    | {"strip"}
)
DATETIME_ATTRIBUTES = frozenset({"year", "month", "day", "hour", "minute", "second"})

_FIELDS = {"user": frozenset(USER_FIELDS), "job": frozenset(JOB_FIELDS)}
# strftime directives without width or flags: a format cannot blow up the output.
_STRFTIME = re.compile(r"(?:[^%]|%[aAbBdHIjmMpSyYzZ%])*")
_ALLOWED_NODES = frozenset(
    {nodes.Template, nodes.Output, nodes.TemplateData, nodes.Const, nodes.Name, nodes.Getattr}
    | {nodes.Getitem, nodes.Slice, nodes.If, nodes.CondExpr, nodes.Filter, nodes.Test}
    | {nodes.Compare, nodes.Operand, nodes.And, nodes.Or, nodes.Not, nodes.Concat, nodes.Add}
    | {nodes.Sub, nodes.Neg, nodes.Pos, nodes.Assign, nodes.Call, nodes.Keyword, nodes.Tuple}
    | {nodes.List}
)
_NODE_NAMES = {
    nodes.For: "{% for %} loops",
    nodes.Macro: "{% macro %}",
    nodes.CallBlock: "{% call %}",
    nodes.FilterBlock: "{% filter %} blocks",
    nodes.With: "{% with %}",
    nodes.AssignBlock: "{% set %}…{% endset %} blocks",
    nodes.Block: "{% block %}",
    nodes.Extends: "{% extends %}",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from … import %}",
    nodes.Mul: "the * operator",
    nodes.Pow: "the ** operator",
    nodes.Div: "the / operator",
    nodes.FloorDiv: "the // operator",
    nodes.Mod: "the % operator",
    nodes.Dict: "{…} dictionaries",
}
_SUPPORTED = "messages support {{ … }}, {% if %} and {% set %}, with a few filters"
# What rendering admin-written code may raise; each becomes InvalidMessage for that user.
_RENDER_ERRORS = (TemplateError, ArithmeticError, LookupError, TypeError, ValueError)


# -- the variables a template sees ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TemplateUser:
    """``user`` in a template: the recipient's Telegram names, "" where Telegram has none."""

    first_name: str = ""
    last_name: str = ""
    username: str = ""
    language_code: str = ""

    @classmethod
    def of(cls, recipient: Recipient) -> TemplateUser:
        """Cut to Telegram's own limits, which ``size_bound`` counts on."""
        return cls(
            (recipient.first_name or "")[:NAME_CHARS],
            (recipient.last_name or "")[:NAME_CHARS],
            (recipient.username or "")[:USERNAME_CHARS],
            (recipient.language_code or "")[:LANGUAGE_CODE_CHARS],
        )

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True, slots=True)
class TemplateJob:
    """``job`` in a template."""

    name: str
    description: str = ""


@dataclass(frozen=True)
class TemplateContext:
    """What one user's rendering sees. Build it once per run, then ``with_recipient`` per user."""

    user: TemplateUser
    job: TemplateJob
    scheduled_for: datetime
    now: datetime
    date: str

    @classmethod
    def build(
        cls,
        recipient: Recipient,
        *,
        job_name: str,
        job_description: str,
        scheduled_for: datetime,
        timezone: str,
        now: datetime | None = None,
    ) -> TemplateContext:
        """Times arrive as aware UTC instants and are shown in the job's IANA ``timezone``."""
        zone = load_zone(timezone)
        local = as_utc(scheduled_for).astimezone(zone)
        current = as_utc(now or datetime.now(UTC)).astimezone(zone)
        job = TemplateJob(job_name, job_description or "")
        return cls(TemplateUser.of(recipient), job, local, current, local.date().isoformat())

    def with_recipient(self, recipient: Recipient) -> TemplateContext:
        """The same job and times for another user: the cheap per-user step of a run."""
        user = TemplateUser.of(recipient)
        return TemplateContext(user, self.job, self.scheduled_for, self.now, self.date)

    def variables(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "job": self.job,
            "now": self.now,
            "scheduled_for": self.scheduled_for,
            "date": self.date,
        }


def _sample(recipient: Recipient) -> TemplateContext:
    return TemplateContext.build(
        recipient,
        job_name="sample-job",
        job_description="<sample & description>",
        scheduled_for=datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
        timezone="UTC",
        now=datetime(2026, 1, 1, 12, 0, 5, tzinfo=UTC),
    )


# Names full of markup characters: an HTML template that lets them through unescaped fails.
MARKUP_SAMPLE = _sample(Recipient(0, 0, '<Ann & "Bo">', "O'Neil <&>", "ann_<&>", "en"))
# Empty names: what is left is the admin's own text, which must fit Telegram's limit.
BLANK_SAMPLE = _sample(Recipient(0, 0))


# -- compiling and rendering -------------------------------------------------------------------


@dataclass(frozen=True)
class MessageTemplate:
    """A checked, compiled message. Build it with ``MessageTemplate.compile``.

    A ``caption`` (a photo's) is held to Telegram's caption rules: at most 1024 characters
    as Telegram counts them, and it may be empty.
    """

    source: str
    parse_mode: str | None
    template: Template = field(repr=False, compare=False)
    memo: MarkupMemo = field(default_factory=MarkupMemo, repr=False, compare=False)
    caption: bool = False

    @classmethod
    def compile(
        cls, source: str, parse_mode: str | None, *, caption: bool = False
    ) -> MessageTemplate:
        """Check everything that does not depend on the user; InvalidMessage says what to fix."""
        check_parse_mode(parse_mode)
        _check_size(source)
        environment = _ENVIRONMENTS[parse_mode]
        try:
            tree = environment.parse(source)
            _check_names(tree)
            _check_nodes(tree)
            check_size_bound(tree, autoescape=parse_mode == HTML)
            _check_undeclared(tree)
            template = environment.from_string(tree)
        except TemplateSyntaxError as exc:
            raise InvalidMessage(
                f"Template syntax error on line {exc.lineno}: {exc.message}"
            ) from exc
        except (RecursionError, SyntaxError) as exc:  # Python's limits on nesting, hit by Jinja
            raise InvalidMessage(
                "The template nests too deeply; flatten its {% if %} blocks and expressions."
            ) from exc
        compiled = cls(source, parse_mode, template, caption=caption)
        compiled._check_samples()
        return compiled

    def render(self, context: TemplateContext) -> str:
        """One user's text, re-checked: markup valid, not empty, within Telegram's limit."""
        text = self._render(context)
        self._check(text, self.memo)
        return text

    def _check(
        self, text: str, memo: MarkupMemo | None = None, limited: bool = True, empty: bool = False
    ) -> None:
        """Telegram's checks of a message's text, or of a caption's (1024, may be empty)."""
        if self.caption:
            limit, empty, what = MAX_CAPTION_LENGTH, True, "photo's caption"
        else:
            limit, what = MAX_MESSAGE_LENGTH, "message"
        check_message_text(text, self.parse_mode, memo, max_length=limit if limited else None,
                           allow_empty=empty, what=what)  # fmt: skip

    def _render(self, context: TemplateContext) -> str:
        try:
            return self.template.render(context.variables())
        except _RENDER_ERRORS as exc:
            raise InvalidMessage(f"The message could not be rendered: {exc}") from exc

    def _check_samples(self) -> None:
        """Markup and emptiness with markup-laden names; the limit with empty names.

        So compile refuses only a text too long for everyone; render checks each user. A
        template that cannot render without names (``user.first_name[0]``) fails per user.
        """
        with self._sample_note("names full of <&>"):
            text = self._render(MARKUP_SAMPLE)
        with self._sample_note("names full of <&>", text_checked=True):
            self._check(text, limited=False)
        try:
            text = self._render(BLANK_SAMPLE)
        except InvalidMessage:
            return
        with self._sample_note("empty names", text_checked=True):
            self._check(text, empty=True)

    @contextmanager
    def _sample_note(self, names: str, text_checked: bool = False) -> Iterator[None]:
        """Say that a problem was found on a sample rendering, whose positions differ."""
        try:
            yield
        except InvalidMessage as exc:
            shifted = text_checked and "{" in self.source
            where = "; positions count in that rendered text" if shifted else ""
            note = f" (found rendering it for a sample user with {names}{where})"
            raise InvalidMessage(f"{exc}{note}") from exc


def _environment(autoescape: bool) -> SandboxedEnvironment:
    environment = SandboxedEnvironment(
        autoescape=autoescape, undefined=StrictUndefined, keep_trailing_newline=True
    )
    environment.globals.clear()  # no range(), lipsum(), dict(): unknown names instead
    environment.filters = {name: environment.filters[name] for name in FILTERS}
    environment.tests = {name: environment.tests[name] for name in TESTS}
    return environment


_ENVIRONMENTS = {HTML: _environment(True), None: _environment(False)}


def _check_size(source: object) -> None:
    if not isinstance(source, str):
        raise InvalidMessage(f"The message must be text, not {type(source).__name__}.")
    size = len(source.encode("utf-8", "surrogatepass"))
    if size > MAX_TEMPLATE_BYTES:
        raise InvalidMessage(
            f"The message template is {size} bytes; the limit is {MAX_TEMPLATE_BYTES} (16 KiB)."
        )


def _check_names(tree: nodes.Template) -> None:
    """Every name read is a message variable or one the template set itself.

    Checked by hand because find_undeclared_variables skips Jinja's own names (``self``).
    """
    names = list(tree.find_all(nodes.Name))
    assigned = {node.name for node in names if node.ctx == "store"}
    for node in names:
        if node.ctx == "load" and node.name not in assigned and node.name not in VARIABLES:
            raise _unknown_variable(node.name, node.lineno)


def _check_undeclared(tree: nodes.Template) -> None:
    """Jinja's own view of what the template reads from its context, as a second opinion.

    Runs after ``_check_nodes``: it compiles the tree, which fails on an unknown filter.
    """
    unknown = meta.find_undeclared_variables(tree) - set(VARIABLES)
    if unknown:
        name = min(unknown)
        line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == name), 1)
        raise _unknown_variable(name, line)


def _unknown_variable(name: str, line: int) -> InvalidMessage:
    return InvalidMessage(
        f"Line {line}: unknown variable '{name}'; messages can use {', '.join(VARIABLES)}."
    )


def _check_nodes(tree: nodes.Template) -> None:
    for node in tree.find_all(nodes.Node):
        problem = _node_problem(node)
        if problem:
            raise InvalidMessage(f"Line {node.lineno}: {problem}")


def _node_problem(node: nodes.Node) -> str | None:
    kind = type(node)
    if kind not in _ALLOWED_NODES:
        name = _NODE_NAMES.get(kind, f"'{kind.__name__}'")
        return f"{name} cannot be used: {_SUPPORTED}."
    rule = _NODE_RULES.get(kind)
    return rule(node) if rule else None


def _getattr_problem(node: nodes.Getattr) -> str | None:
    return _attribute_problem(node.node, node.attr)


def _getitem_problem(node: nodes.Getitem) -> str | None:
    if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        return _attribute_problem(node.node, node.arg.value)
    return None  # an index or slice; a computed key is left to the sandbox


def _attribute_problem(target: nodes.Node, attribute: str) -> str | None:
    if attribute.startswith("_"):
        return f"'{attribute}' is off limits: names starting with '_' reach Python internals."
    if isinstance(target, nodes.Name) and target.name in _FIELDS:
        fields = _FIELDS[target.name]
        if attribute in fields:
            return None
        known = ", ".join(sorted(fields))
        return f"{target.name}.{attribute} does not exist; {target.name} has {known}."
    if attribute in DATETIME_ATTRIBUTES or attribute in METHODS:
        return None
    return f"'.{attribute}' is not available in messages."


def _filter_problem(node: nodes.Filter) -> str | None:
    if node.name in FILTERS:
        return None
    return f"the filter '{node.name}' is not available; use one of {', '.join(sorted(FILTERS))}."


def _test_problem(node: nodes.Test) -> str | None:
    if node.name in TESTS:
        return None
    return f"the test '{node.name}' is not available; use one of {', '.join(sorted(TESTS))}."


def _call_problem(node: nodes.Call) -> str | None:
    callee = node.node
    if not isinstance(callee, nodes.Getattr) or callee.attr not in METHODS:
        return f"only these methods can be called: {', '.join(sorted(METHODS))}."
    if node.kwargs or node.dyn_args or node.dyn_kwargs:
        return f".{callee.attr}() takes no keyword or * arguments here."
    if callee.attr == "strftime":
        return _strftime_problem(node.args)
    return f".{callee.attr}() takes no arguments here." if node.args else None


def _strftime_problem(args: list[nodes.Expr]) -> str | None:
    if len(args) == 1 and isinstance(args[0], nodes.Const):
        value = args[0].value
        if isinstance(value, str) and _STRFTIME.fullmatch(value):
            return None
    return (
        ".strftime() takes one quoted format such as '%H:%M', using only "
        "%a %A %b %B %d %H %I %j %m %M %p %S %y %Y %z %Z and %%."
    )


_NODE_RULES: dict[type[nodes.Node], Callable[[Any], str | None]] = {
    nodes.Getattr: _getattr_problem,
    nodes.Getitem: _getitem_problem,
    nodes.Filter: _filter_problem,
    nodes.Test: _test_problem,
    nodes.Call: _call_problem,
}
