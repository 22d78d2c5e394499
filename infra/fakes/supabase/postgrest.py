"""PostgREST over the fake's tables: the query string it reads (``select`` with embeds,
filters, ``order``, ``limit``), the rows it answers, and its errors, as PostgREST 12/13 give
them.

What is read: ``select`` lists of columns, ``*``, aliases (``menu_item:menu_items(...)``) and
embeds along the foreign keys, nested, with ``!inner`` (a parent without a matching child is
dropped), ``!left`` and a constraint or column as hint; filters ``eq neq gt gte lt lte in is
like ilike``, with ``not.`` and on embeds (``menu_schedule.date=gte.2024-01-01``); ``order``,
``limit`` and ``offset``, on embedded lists too. Values are typed by their column, so a bad
date or uuid gets Postgres's own error. What is not: spreads (``...``), casts, JSON paths,
``or``/``and`` trees, aggregates and the range operators; those answer PGRST127 ("Feature not
implemented") rather than something PostgREST would not say.
"""

from __future__ import annotations

import difflib
import json
import operator
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from infra.fakes.supabase.data import (
    COLUMNS,
    RELATIONS,
    DatabaseError,
    Hint,
    RastarData,
    Relation,
    Viewer,
)

MODIFIERS = frozenset({"order", "limit", "offset"})
IGNORED = frozenset({"columns", "on_conflict", "apikey"})
OPERATORS = frozenset({"eq", "neq", "gt", "gte", "lt", "lte", "in", "is", "like", "ilike"})
UNSUPPORTED_OPERATORS = frozenset(
    {"cs", "cd", "ov", "sl", "sr", "nxr", "nxl", "adj", "fts", "plfts", "phfts", "wfts"}
    | {"match", "imatch", "isdistinct", "all", "any"}
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "neq": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
_NAME = re.compile(r"[^,():!]+")
# SQLSTATEs PostgREST answers with a status other than 400 (its mapSQLtoHTTP).
_STATUSES = {"23503": 409, "23505": 409, "42P01": 404, "42883": 404}


class RestError(Exception):
    """An error answer of PostgREST: its status and ``{code, details, hint, message}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.hint = details, hint

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "details": self.details,
            "hint": self.hint,
            "message": self.message,
        }


def from_database(error: DatabaseError, authenticated: bool) -> RestError:
    """A Postgres error as PostgREST answers it: 42501 is 403 for a signed-in role and 401 for
    anon; a role that does not exist is 401; the rest by SQLSTATE."""
    if error.sqlstate == "42501":
        status = 403 if authenticated else 401
    elif error.sqlstate == "22023" and error.message.startswith("role"):
        status = 401
    else:
        status = _STATUSES.get(error.sqlstate, 400)
    return RestError(status, error.sqlstate, error.message, error.details, error.hint)


def not_implemented(what: str) -> RestError:
    return RestError(
        400, "PGRST127", "Feature not implemented", f"The fake does not implement {what}"
    )


def _parse_failure(what: str, text: str, details: str) -> RestError:
    return RestError(
        400, "PGRST100", f'"failed to parse {what} ({text})" (line 1, column 1)', details
    )


def invalid_body(message: str = "Empty or invalid json") -> RestError:
    return RestError(400, "PGRST102", message)


# --- the query string --------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str  # or "*"
    alias: str


@dataclass(frozen=True)
class Embed:
    name: str
    alias: str
    hints: tuple[str, ...]
    items: tuple[Column | Embed, ...]

    @property
    def inner(self) -> bool:
        return "inner" in self.hints


Item = Column | Embed


class _SelectParser:
    """``select``'s grammar, as much of it as the fake reads (whitespace is insignificant, as
    the clients strip it)."""

    def __init__(self, text: str) -> None:
        self.text = "".join(text.split())
        self.at = 0

    def parse(self) -> tuple[Item, ...]:
        items = self._items()
        if self.at != len(self.text):
            raise self._unexpected()
        return items

    def _peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def _items(self) -> tuple[Item, ...]:
        items = [self._item()]
        while self._peek() == ",":
            self.at += 1
            items.append(self._item())
        return tuple(items)

    def _item(self) -> Item:
        if self.text.startswith("...", self.at):
            raise not_implemented("spread embeds (...)")
        name = alias = self._name()
        if self._peek() == ":":
            self.at += 1
            name = self._name()
        hints = []
        while self._peek() == "!":
            self.at += 1
            hints.append(self._name())
        if self._peek() != "(":
            if hints:
                raise self._unexpected()
            return Column(name, alias)
        self.at += 1
        items = self._items()
        if self._peek() != ")":
            raise self._unexpected()
        self.at += 1
        return Embed(name, alias, tuple(hints), items)

    def _name(self) -> str:
        if self.text.startswith(":", self.at):
            raise not_implemented("casts (::)")
        found = _NAME.match(self.text, self.at)
        if found is None or ("*" in found.group() and found.group() != "*"):
            raise self._unexpected()
        if "->" in found.group():
            raise not_implemented("JSON paths (->, ->>)")
        self.at = found.end()
        return found.group().strip('"')

    def _unexpected(self) -> RestError:
        seen = f'unexpected "{self._peek()}"' if self._peek() else "unexpected end of input"
        return RestError(
            400,
            "PGRST100",
            f'"failed to parse select parameter ({self.text})" (line 1, column {self.at + 1})',
            f"{seen} expecting field name (* or [a..z0..9_$])",
        )


@dataclass(frozen=True)
class Filter:
    path: tuple[str, ...]  # the embeds (by alias) leading to the column
    column: str
    op: str
    value: str
    negate: bool


def parse_filter(key: str, raw: str) -> Filter:
    *path, column = key.split(".")
    negate = raw.startswith("not.")
    op, dot, value = (raw[4:] if negate else raw).partition(".")
    if op in UNSUPPORTED_OPERATORS:
        raise not_implemented(f"the {op} operator")
    if not dot or op not in OPERATORS:
        raise _parse_failure(
            "filter", raw, f'unexpected "{raw[:1]}" expecting "not" or operator (eq, gt, ...)'
        )
    return Filter(tuple(path), column, op, value, negate)


@dataclass(frozen=True)
class Order:
    column: str
    desc: bool
    nulls_first: bool


def parse_order(raw: str) -> tuple[Order, ...]:
    terms = []
    for term in raw.split(","):
        column, *modifiers = term.split(".")
        if "(" in column:
            raise not_implemented("ordering by an embedded resource's column")
        desc, nulls_first = False, None
        for modifier in modifiers:
            if modifier not in ("asc", "desc", "nullsfirst", "nullslast"):
                raise _parse_failure(
                    "order", raw, f'unexpected "{modifier}" expecting "asc" or "desc"'
                )
            if modifier in ("asc", "desc"):
                desc = modifier == "desc"
            else:
                nulls_first = modifier == "nullsfirst"
        terms.append(Order(column, desc, desc if nulls_first is None else nulls_first))
    return tuple(terms)


@dataclass
class Query:
    """A request's query string, read."""

    items: tuple[Item, ...] = (Column("*", "*"),)
    filters: list[Filter] = field(default_factory=list)
    order: dict[tuple[str, ...], tuple[Order, ...]] = field(default_factory=dict)
    limit: dict[tuple[str, ...], int] = field(default_factory=dict)
    offset: dict[tuple[str, ...], int] = field(default_factory=dict)
    columns: list[str] | None = None

    def filters_at(self, path: tuple[str, ...]) -> list[Filter]:
        return [flt for flt in self.filters if flt.path == path]


def parse_query(pairs: Iterable[tuple[str, str]]) -> Query:
    """Read ``select``, the filters (a key may repeat: ``date=gte.X&date=lte.Y``) and the
    modifiers, at the top or on an embed (``menu_schedule.order=...``)."""
    query = Query()
    for key, value in pairs:
        *path, last = key.split(".")
        if key == "select":
            query.items = _SelectParser(value or "*").parse()
        elif key == "columns":
            query.columns = [name.strip().strip('"') for name in value.split(",")]
        elif key in IGNORED:
            continue
        elif last in ("or", "and"):
            raise not_implemented("or/and filters")
        elif last == "order":
            query.order[tuple(path)] = parse_order(value)
        elif last in MODIFIERS:
            target = query.limit if last == "limit" else query.offset
            target[tuple(path)] = _count(last, value)
        else:
            query.filters.append(parse_filter(key, value))
    return query


def _count(name: str, value: str) -> int:
    if not value.isdigit():
        raise _parse_failure(
            f"{name} parameter", value, f'unexpected "{value[:1]}" expecting digit'
        )
    return int(value)


# --- values ------------------------------------------------------------------------------------


def typed(kind: str, text: Any) -> Any:
    """A value read as its column's type, or Postgres's error for one it cannot read."""
    text = str(text)
    try:
        if kind == "uuid":
            return str(uuid.UUID(text))
        if kind == "date":
            return date.fromisoformat(text)
        if kind == "timestamptz":
            moment = datetime.fromisoformat(text)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except ValueError:
        sqlstate = "22P02" if kind == "uuid" else "22007"
        name = "timestamp with time zone" if kind == "timestamptz" else kind
        raise DatabaseError(sqlstate, f'invalid input syntax for type {name}: "{text}"') from None
    return text


def _in_list(raw: str) -> list[str]:
    if not (raw.startswith("(") and raw.endswith(")")):
        raise _parse_failure("filter", f"in.{raw}", f'unexpected "{raw[:1]}" expecting "("')
    return [item.strip().strip('"') for item in raw[1:-1].split(",") if item.strip()]


def _like(kind: str, value: str, raw: str, insensitive: bool) -> bool:
    if kind != "text":
        raise DatabaseError(
            "42883",
            f"operator does not exist: {kind} ~~{'*' if insensitive else ''} unknown",
            hint="No operator matches the given name and argument types. You might need to"
            " add explicit type casts.",
        )
    pattern = "".join(
        ".*" if char in "*%" else "." if char == "_" else re.escape(char) for char in raw
    )
    return re.fullmatch(pattern, value, re.IGNORECASE if insensitive else 0) is not None


def _test(kind: str, value: Any, flt: Filter) -> bool | None:
    """The filter on one value, with SQL's NULL: None when the answer is unknown."""
    if flt.op == "is":
        if flt.value.lower() != "null":
            raise DatabaseError(
                "42804", f"argument of IS TRUE must be type boolean, not type {kind}"
            )
        return value is None
    if value is None:
        return None
    if flt.op == "in":
        return typed(kind, value) in {typed(kind, item) for item in _in_list(flt.value)}
    if flt.op in ("like", "ilike"):
        return _like(kind, value, flt.value, flt.op == "ilike")
    return _COMPARE[flt.op](typed(kind, value), typed(kind, flt.value))


def _matches(table: str, row: dict[str, Any], filters: list[Filter]) -> bool:
    for flt in filters:
        result = _test(COLUMNS[table][flt.column], row.get(flt.column), flt)
        if result is None or result == flt.negate:
            return False
    return True


def _hint(table: str, filters: list[Filter]) -> Hint:
    """What the filters on ``date`` and ``id`` say about which rows can match."""
    hint = Hint()
    for flt in filters:
        if flt.negate or flt.column not in ("date", "id") or flt.column not in COLUMNS[table]:
            continue
        kind = COLUMNS[table][flt.column]
        values = {typed(kind, item) for item in _in_list(flt.value)} if flt.op == "in" else None
        if flt.op == "eq":
            values = {typed(kind, flt.value)}
        if flt.column == "id" and values is not None:
            hint.ids = values if hint.ids is None else hint.ids & values
        elif values is not None:
            hint.dates = values if hint.dates is None else hint.dates & values
        elif flt.column == "date" and flt.op in ("gt", "gte"):
            hint.lower = max(filter(None, (hint.lower, typed(kind, flt.value))))
        elif flt.column == "date" and flt.op in ("lt", "lte"):
            hint.upper = min(filter(None, (hint.upper, typed(kind, flt.value))))
    return hint


def _sort_key(kind: str, value: Any, term: Order) -> tuple[int, Any]:
    """NULLs first or last as asked (Postgres: last ascending, first descending)."""
    if value is None:
        return (0 if term.nulls_first != term.desc else 2, "")
    return (1, typed(kind, value))


# --- running a request -------------------------------------------------------------------------


def check_table(table: str, version: int) -> None:
    """PostgREST 13 answers an unknown table from its schema cache (PGRST205, with a close
    name as hint); 12 passed Postgres's 42P01 on."""
    if table in COLUMNS:
        return
    if version >= 13:
        close = difflib.get_close_matches(table, list(COLUMNS), n=1, cutoff=0.75)
        hint = f"Perhaps you meant the table 'public.{close[0]}'" if close else None
        raise RestError(
            404,
            "PGRST205",
            f"Could not find the table 'public.{table}' in the schema cache",
            None,
            hint,
        )
    raise RestError(404, "42P01", f'relation "public.{table}" does not exist')


@dataclass(frozen=True)
class _Node:
    table: str
    items: tuple[Item, ...]
    relation: Relation | None  # how it is reached from its parent


def _relation(source: str, embed: Embed) -> Relation:
    found = [
        rel
        for rel in RELATIONS
        if rel.source == source
        and embed.name in (rel.target, rel.source_column if rel.to_one else "")
    ]
    hints = [hint for hint in embed.hints if hint not in ("inner", "left")]
    for hint in hints:
        found = [
            rel for rel in found if hint in (rel.constraint, rel.source_column, rel.target_column)
        ]
    if found:
        return found[0]
    using = f"' using the hint '{hints[0]}" if hints else ""
    targets = [rel.target for rel in RELATIONS if rel.source == source]
    close = difflib.get_close_matches(embed.name, targets, n=1, cutoff=0.5)
    raise RestError(
        400,
        "PGRST200",
        f"Could not find a relationship between '{source}' and '{embed.name}' in the schema cache",
        f"Searched for a foreign key relationship between '{source}' and '{embed.name}{using}'"
        " in the schema 'public', but no matches were found.",
        f"Perhaps you meant '{close[0]}' instead of '{embed.name}'." if close else None,
    )


def _missing_column(table: str, column: str) -> DatabaseError:
    return DatabaseError("42703", f"column {table}.{column} does not exist")


class Engine:
    """One request against the tables, as one viewer: validated on construction (embeds,
    columns, filter paths), then read, inserted, deleted or updated."""

    def __init__(
        self, data: RastarData, viewer: Viewer, table: str, query: Query, version: int
    ) -> None:
        check_table(table, version)
        self.data, self.viewer, self.table, self.query = data, viewer, table, query
        self.plan: dict[tuple[str, ...], _Node] = {}
        self._plan((), _Node(table, query.items, None))
        self._check_references()

    def _plan(self, path: tuple[str, ...], node: _Node) -> None:
        self.plan[path] = node
        for item in node.items:
            if isinstance(item, Embed):
                relation = _relation(node.table, item)
                self._plan((*path, item.alias), _Node(relation.target, item.items, relation))
            elif item.name != "*" and item.name not in COLUMNS[node.table]:
                raise _missing_column(node.table, item.name)

    def _check_references(self) -> None:
        """Every filter and order names an embed of this request and a column of it."""
        references = [(flt.path, flt.column) for flt in self.query.filters]
        references += [
            (path, term.column) for path, terms in self.query.order.items() for term in terms
        ]
        references += [(path, "") for path in (*self.query.limit, *self.query.offset)]
        for path, column in references:
            node = self.plan.get(path)
            if node is None:
                name = ".".join(path)
                raise RestError(
                    400,
                    "PGRST108",
                    f"'{name}' is not an embedded resource in this request",
                    None,
                    f"Verify that '{name}' is included in the 'select' query parameter.",
                )
            if column and column not in COLUMNS[node.table]:
                raise _missing_column(node.table, column)

    # reading ---------------------------------------------------------------------------------

    def read(self) -> tuple[list[dict[str, Any]], int]:
        """The rows the request selects, rendered, and how many matched before the limit."""
        filters = self.query.filters_at(())
        rows = self.data.rows(self.table, self.viewer, _hint(self.table, filters))
        pairs = self._render((), [row for row in rows if _matches(self.table, row, filters)])
        pairs = self._arrange((), pairs)
        start = self.query.offset.get((), 0)
        stop = start + self.query.limit[()] if () in self.query.limit else None
        return [rendered for _, rendered in pairs[start:stop]], len(pairs)

    def _render(
        self, path: tuple[str, ...], rows: list[dict[str, Any]]
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Each row with its selected columns and embeds, in the order selected; a row whose
        ``!inner`` embed came back empty is left out."""
        node = self.plan[path]
        children = {
            item.alias: self._children((*path, item.alias), rows)
            for item in node.items
            if isinstance(item, Embed)
        }
        out = []
        for row in rows:
            rendered: dict[str, Any] = {}
            keep = True
            for item in node.items:
                if isinstance(item, Embed):
                    rendered[item.alias] = value = children[item.alias](row)
                    keep = keep and not (item.inner and not value)
                elif item.name == "*":
                    rendered.update({name: row.get(name) for name in COLUMNS[node.table]})
                else:
                    rendered[item.alias] = row.get(item.name)
            if keep:
                out.append((row, rendered))
        return out

    def _children(
        self, path: tuple[str, ...], parents: list[dict[str, Any]]
    ) -> Callable[[dict[str, Any]], Any]:
        """How to find a parent row's embed: the child rows are read once for all parents."""
        node = self.plan[path]
        relation = node.relation
        assert relation is not None
        filters = self.query.filters_at(path)
        hint = _hint(node.table, filters)
        if relation.to_one and relation.target_column == "id":
            keys = {row.get(relation.source_column) for row in parents} - {None}
            hint.ids = keys if hint.ids is None else hint.ids & keys
        rows = self.data.rows(node.table, self.viewer, hint)
        pairs = self._render(path, [row for row in rows if _matches(node.table, row, filters)])
        if relation.to_one:
            found = {raw[relation.target_column]: rendered for raw, rendered in pairs}
            return lambda row: found.get(row.get(relation.source_column))
        groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for raw, rendered in self._arrange(path, pairs):
            groups[raw.get(relation.target_column)].append(rendered)
        start = self.query.offset.get(path, 0)
        stop = start + self.query.limit[path] if path in self.query.limit else None
        return lambda row: groups.get(row.get(relation.source_column), [])[start:stop]

    def _arrange(
        self, path: tuple[str, ...], pairs: list[tuple[dict[str, Any], dict[str, Any]]]
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        table = self.plan[path].table
        for term in reversed(self.query.order.get(path, ())):
            kind = COLUMNS[table][term.column]
            pairs.sort(
                key=lambda pair: _sort_key(kind, pair[0].get(term.column), term), reverse=term.desc
            )
        return pairs

    def _top_rows(self, verb: str) -> list[dict[str, Any]]:
        """The rows a DELETE or UPDATE reaches; one without a filter is refused, as
        Supabase's pg-safeupdate refuses it."""
        filters = self.query.filters_at(())
        if not filters:
            raise DatabaseError("21000", f"{verb} requires a WHERE clause")
        rows = self.data.rows(self.table, self.viewer, _hint(self.table, filters))
        return [row for row in rows if _matches(self.table, row, filters)]

    # writing ---------------------------------------------------------------------------------

    def insert(self, raw: bytes) -> list[dict[str, Any]]:
        """Insert the body's row (or rows); the answer's representation, rendered as selected."""
        rows = self._payload(raw)
        made = self.data.insert(self.table, self.viewer, rows)
        return [rendered for _, rendered in self._render((), made)]

    def _payload(self, raw: bytes) -> list[dict[str, Any]]:
        """The body's rows, checked as PostgREST checks them before Postgres sees them: JSON,
        objects with the same keys, every key a column of the table; values typed."""
        try:
            body = json.loads(raw)
        except ValueError:
            raise invalid_body() from None
        rows = body if isinstance(body, list) else [body]
        if not all(isinstance(row, dict) for row in rows):
            raise invalid_body()
        if len({frozenset(row) for row in rows}) > 1:
            raise invalid_body("All object keys must match")
        keys = self.query.columns or (list(rows[0]) if rows else [])
        for key in keys:
            if key not in COLUMNS[self.table]:
                raise RestError(
                    400,
                    "PGRST204",
                    f"Could not find the '{key}' column of '{self.table}' in the schema cache",
                )
        return [{key: self._value(key, row.get(key)) for key in keys} for row in rows]

    def _value(self, column: str, value: Any) -> Any:
        if value is None:
            return None
        kind = COLUMNS[self.table][column]
        return str(typed(kind, value)) if kind == "uuid" else value

    def delete(self) -> list[dict[str, Any]]:
        """Delete what the filters reach and row-level security lets go; the deleted rows."""
        reached = self._top_rows("DELETE")
        gone = self.data.delete(self.table, self.viewer, {row["id"] for row in reached})
        return [rendered for _, rendered in self._render((), gone)]

    def update(self, raw: bytes) -> list[dict[str, Any]]:
        """No table has an UPDATE policy: Postgres updates nothing and says nothing."""
        self._payload(raw)
        self._top_rows("UPDATE")
        return []
