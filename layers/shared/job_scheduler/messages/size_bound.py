"""How long a message template's output, and every value it builds, can possibly get.

The template language is loop-free (``templates.py``), but ``{% set a = a ~ a %}`` doubles a
string each time: 26 such lines build 64 MiB strings for every person. So before a
template is saved, this walks its tree with the longest value each variable can hold (the
longest names Telegram allows, the longest description a job may have) and the most each
operation can make of its inputs, and refuses it if any value or the whole output could
pass ``MAX_RENDERED_CHARS``. Rendering is then bounded in time and memory by the
template's size, as the docs promise; ``TemplateUser`` cuts names to Telegram's own limits
so the bound holds for every person.

The bound is an over-estimate (both branches of an ``if`` are assumed taken in the worst
way, case changes may triple a string as some Unicode letters do), never an under-estimate.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes

from job_scheduler.errors import InvalidMessage

# What Telegram accepts as a message's raw text before it parses entities; a rendering
# that could be longer cannot be sent, whatever it holds.
MAX_RENDERED_CHARS = 32_768
NAME_CHARS = 64  # Telegram's limit on first and last names
USERNAME_CHARS = 32
LANGUAGE_CODE_CHARS = 35  # the longest IETF language tag Telegram could send
DESCRIPTION_CHARS = 1000  # jobs.fields.MAX_DESCRIPTION
DATETIME_CHARS = 40
NUMBER_CHARS = 20
OBJECT_CHARS = 2048  # the repr of `user` or `job` printed whole
ESCAPED = 5  # &amp; &lt; &gt; &#34; &#39;: the most one character escapes to
CASED = 3  # 'ﬃ'.upper() == 'FFI': the most a case change makes of one character
DIRECTIVE_CHARS = 32  # the longest a strftime directive (%A, %B, %Z ...) writes

FIELDS = {
    ("user", "first_name"): NAME_CHARS,
    ("user", "last_name"): NAME_CHARS,
    ("user", "full_name"): 2 * NAME_CHARS + 1,
    ("user", "username"): USERNAME_CHARS,
    ("user", "language_code"): LANGUAGE_CODE_CHARS,
    ("job", "name"): 48,
    ("job", "description"): DESCRIPTION_CHARS,
}
VARIABLES = {"user": OBJECT_CHARS, "job": OBJECT_CHARS, "now": DATETIME_CHARS,
             "scheduled_for": DATETIME_CHARS, "date": 10}  # fmt: skip


@dataclass(frozen=True)
class Bound:
    """The longest a value can be, and whether it is already markup (escaped once)."""

    chars: int
    markup: bool = False


def check_size_bound(tree: nodes.Template, autoescape: bool) -> None:
    """Raise InvalidMessage if the template could build a value or an output longer than
    ``MAX_RENDERED_CHARS``; the message says where and what to change."""
    _Walker(autoescape).output(tree.body, dict(VARIABLES))


class _Walker:
    def __init__(self, autoescape: bool) -> None:
        self.autoescape = autoescape

    def output(self, body: list[nodes.Node], env: dict[str, int]) -> int:
        """The longest output of ``body``; ``env`` is updated with what it assigns."""
        total = 0
        for node in body:
            total = self._checked(node, total + self._statement(node, env), "the message")
        return total

    def _statement(self, node: nodes.Node, env: dict[str, int]) -> int:
        if isinstance(node, nodes.Output):
            return sum(self._printed(child, env) for child in node.nodes)
        if isinstance(node, nodes.Assign):
            value = self._checked(node, self.value(node.node, env).chars, "a {% set %} value")
            targets = [node.target, *node.target.find_all(nodes.Name)]
            for target in targets:
                if isinstance(target, nodes.Name):
                    env[target.name] = value
            return 0
        if isinstance(node, nodes.If):
            return self._branches(node, env)
        return 0  # nothing else is allowed to reach here (templates.py checks the nodes)

    def _branches(self, node: nodes.If, env: dict[str, int]) -> int:
        branches = [node.body, *(elif_.body for elif_ in node.elif_), node.else_]
        outputs, envs = [], []
        for body in branches:
            branch_env = dict(env)
            outputs.append(self.output(body, branch_env))
            envs.append(branch_env)
        for branch_env in envs:  # after the if, a variable is as long as its longest branch
            for name, chars in branch_env.items():
                env[name] = max(env.get(name, 0), chars)
        return max(outputs)

    def _printed(self, node: nodes.Node, env: dict[str, int]) -> int:
        if isinstance(node, nodes.TemplateData):
            return len(node.data)
        bound = self.value(node, env)
        return bound.chars * (ESCAPED if self.autoescape and not bound.markup else 1)

    def _checked(self, node: nodes.Node, chars: int, what: str) -> int:
        if chars > MAX_RENDERED_CHARS:
            raise InvalidMessage(
                f"Line {node.lineno}: {what} could grow to {chars:,} characters for some"
                f" people, past the {MAX_RENDERED_CHARS:,} a message may have before Telegram"
                " reads it; a value joined to itself in {% set %} doubles each time. Build"
                " the text without repeating a value into itself."
            )
        return chars

    def value(self, node: nodes.Node, env: dict[str, int]) -> Bound:
        rule = _VALUE_RULES.get(type(node))
        if rule is None:
            return Bound(NUMBER_CHARS)  # Compare, Test, Not: True/False; numbers
        bound = rule(self, node, env)
        self._checked(node, bound.chars, "a value")
        return bound


def _const(walker: _Walker, node: nodes.Const, env: dict[str, int]) -> Bound:
    return Bound(len(str(node.value)))


def _name(walker: _Walker, node: nodes.Name, env: dict[str, int]) -> Bound:
    return Bound(env.get(node.name, OBJECT_CHARS))


def _getattr(walker: _Walker, node: nodes.Getattr, env: dict[str, int]) -> Bound:
    if isinstance(node.node, nodes.Name) and (node.node.name, node.attr) in FIELDS:
        return Bound(FIELDS[(node.node.name, node.attr)])
    return Bound(max(walker.value(node.node, env).chars, NUMBER_CHARS, OBJECT_CHARS // 8))


def _getitem(walker: _Walker, node: nodes.Getitem, env: dict[str, int]) -> Bound:
    if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        return _getattr(walker, nodes.Getattr(node.node, node.arg.value, "load"), env)
    return walker.value(node.node, env)  # an index or a slice: no longer than the whole


def _concat(walker: _Walker, node: nodes.Concat, env: dict[str, int]) -> Bound:
    return Bound(sum(walker.value(part, env).chars for part in node.nodes))


def _binary(walker: _Walker, node: nodes.BinExpr, env: dict[str, int]) -> Bound:
    left, right = walker.value(node.left, env), walker.value(node.right, env)
    return Bound(left.chars + right.chars, left.markup and right.markup)


def _either(walker: _Walker, node: nodes.And | nodes.Or, env: dict[str, int]) -> Bound:
    return Bound(max(walker.value(node.left, env).chars, walker.value(node.right, env).chars))


def _cond(walker: _Walker, node: nodes.CondExpr, env: dict[str, int]) -> Bound:
    other = walker.value(node.expr2, env).chars if node.expr2 is not None else 0
    return Bound(max(walker.value(node.expr1, env).chars, other))


def _sequence(walker: _Walker, node: nodes.Tuple | nodes.List, env: dict[str, int]) -> Bound:
    return Bound(2 + sum(walker.value(item, env).chars + 2 for item in node.items))


def _unary(walker: _Walker, node: nodes.UnaryExpr, env: dict[str, int]) -> Bound:
    return Bound(walker.value(node.node, env).chars + 1)


def _filter(walker: _Walker, node: nodes.Filter, env: dict[str, int]) -> Bound:
    base = walker.value(node.node, env) if node.node is not None else Bound(0)
    name = node.name
    if name in ("e", "escape"):
        return Bound(base.chars if base.markup else base.chars * ESCAPED, markup=True)
    if name in ("upper", "lower", "title", "capitalize"):
        return Bound(base.chars * CASED, base.markup)
    if name in ("length", "count"):
        return Bound(NUMBER_CHARS)
    if name in ("default", "d"):
        given = max((walker.value(arg, env).chars for arg in node.args), default=0)
        return Bound(max(base.chars, given), base.markup)
    if name == "truncate":
        return Bound(min(base.chars, _truncated_length(node)), base.markup)
    return base  # trim, striptags, first, last, string: no longer than their input


def _truncated_length(node: nodes.Filter) -> int:
    """``truncate(n, killwords, end)``: at most n plus the end it appends (default "...")."""
    if not node.args or not isinstance(node.args[0], nodes.Const):
        return MAX_RENDERED_CHARS + 1  # unknown: the input's bound applies
    end = node.args[2] if len(node.args) > 2 else None
    end_chars = len(str(end.value)) if isinstance(end, nodes.Const) else 3
    return int(node.args[0].value) + end_chars


def _call(walker: _Walker, node: nodes.Call, env: dict[str, int]) -> Bound:
    method = node.node.attr if isinstance(node.node, nodes.Getattr) else ""
    receiver = walker.value(node.node.node, env) if isinstance(node.node, nodes.Getattr) else None
    if method == "strftime" and node.args and isinstance(node.args[0], nodes.Const):
        text = str(node.args[0].value)
        directives = len(re.findall(r"%.", text))
        return Bound(len(text) + directives * DIRECTIVE_CHARS)
    if method in ("upper", "lower", "title", "capitalize") and receiver is not None:
        return Bound(receiver.chars * CASED)
    if method == "strip" and receiver is not None:
        return receiver
    return Bound(DATETIME_CHARS)  # isoformat, weekday, isoweekday


_VALUE_RULES: dict[type[nodes.Node], Callable[[_Walker, Any, dict[str, int]], Bound]] = {
    nodes.Const: _const,
    nodes.TemplateData: lambda walker, node, env: Bound(len(node.data)),
    nodes.Name: _name,
    nodes.Getattr: _getattr,
    nodes.Getitem: _getitem,
    nodes.Slice: lambda walker, node, env: Bound(0),
    nodes.Concat: _concat,
    nodes.Add: _binary,
    nodes.Sub: _binary,
    nodes.And: _either,
    nodes.Or: _either,
    nodes.CondExpr: _cond,
    nodes.Tuple: _sequence,
    nodes.List: _sequence,
    nodes.Neg: _unary,
    nodes.Pos: _unary,
    nodes.Filter: _filter,
    nodes.Call: _call,
    nodes.Keyword: lambda walker, node, env: walker.value(node.value, env),
}
