"""Point selectors (``--fit-on``, ``--holdout``, ``--select``, a profile's ``fit_on``): a small
language of our own, parsed and evaluated as boolean masks over a table, never as Python.

Selectors come from command lines and from profiles other people send, so they are data: the
grammar has column names, numbers, quoted strings, ``true``/``false``, the comparisons
``== != < <= > >=``, ``in [..]`` / ``not in [..]`` (parentheses work for the list too),
``and``/``or``/``not`` and parentheses; nothing else. No attribute access, no calls, no
variables, no escapes: there is nothing in it that could reach code. Length and nesting are
capped so a selector's cost is bounded by its length.

    expr       := conj ("or" conj)*
    conj       := neg ("and" neg)*
    neg        := "not" neg | "(" expr ")" | comparison
    comparison := value (OP value | ["not"] "in" list)
    list       := ("[" | "(") literal ("," literal)* [","] ("]" | ")")
    value      := NAME | literal
    literal    := NUMBER | STRING | "true" | "false"
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

MAX_LENGTH = 1000  # characters
MAX_DEPTH = 20  # nested parentheses / not

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    | (?P<string>'[^'\\\n]*'|"[^"\\\n]*")
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>==|!=|<=|>=|<|>)
    | (?P<punct>[()\[\],])
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in"}
_LITERALS = {"true": True, "True": True, "false": False, "False": False}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class SelectorError(ValueError):
    """A selector that is not in the grammar, or names a column the table lacks."""


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, name, keyword, literal, op, punct, end
    text: str
    pos: int


@dataclass(frozen=True)
class Column:
    name: str


@dataclass(frozen=True)
class Compare:
    op: str
    left: Column | Any
    right: Column | Any


@dataclass(frozen=True)
class Member:
    value: Column | Any
    options: tuple[Any, ...]
    negated: bool


@dataclass(frozen=True)
class Bool:
    op: str  # and, or, not
    args: tuple[Node, ...]


Node = Compare | Member | Bool


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            start = len(text) - len(text[pos:].lstrip())
            raise SelectorError(f"unexpected {_excerpt(text[start:])} at character {start + 1}")
        group = match.lastgroup or ""
        value, kind = match.group(group), group
        if group == "name" and value in _KEYWORDS:
            kind = "keyword"
        elif group == "name" and value in _LITERALS:
            kind = "literal"
        out.append(_Token(kind, value, match.start(group)))
        pos = match.end()
    out.append(_Token("end", "", len(text)))
    return out


def _excerpt(text: str, limit: int = 12) -> str:
    """A short, escaped piece of user text for an error message."""
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self, kind: str | None = None, text: str | None = None) -> _Token | None:
        tok = self.peek()
        if (kind is None or tok.kind == kind) and (text is None or tok.text == text):
            self.i += 1
            return tok
        return None

    def expect(self, what: str, kind: str | None = None, text: str | None = None) -> _Token:
        tok = self.take(kind, text)
        if tok is None:
            raise self.error(what)
        return tok

    def error(self, expected: str) -> SelectorError:
        found = self.peek()
        shown = "the end" if found.kind == "end" else _excerpt(found.text)
        return SelectorError(f"expected {expected}, found {shown} at character {found.pos + 1}")

    def parse(self) -> Node:
        node = self.expr()
        self.expect("the end", "end")
        return node

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise SelectorError(f"nested deeper than {MAX_DEPTH} levels")

    def expr(self) -> Node:
        args = [self.conj()]
        while self.take("keyword", "or"):
            args.append(self.conj())
        return args[0] if len(args) == 1 else Bool("or", tuple(args))

    def conj(self) -> Node:
        args = [self.neg()]
        while self.take("keyword", "and"):
            args.append(self.neg())
        return args[0] if len(args) == 1 else Bool("and", tuple(args))

    def neg(self) -> Node:
        if self.take("keyword", "not"):
            self.nested()
            node = Bool("not", (self.neg(),))
            self.depth -= 1
            return node
        if self.take("punct", "("):
            self.nested()
            node = self.expr()
            self.expect("')'", "punct", ")")
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Node:
        left = self.value()
        op = self.take("op")
        if op:
            return Compare(op.text, left, self.value())
        negated = bool(self.take("keyword", "not"))
        self.expect("a comparison (== != < <= > >=) or 'in'", "keyword", "in")
        return Member(left, self.options(), negated)

    def options(self) -> tuple[Any, ...]:
        opening = self.expect("'[' after 'in'", "punct")
        if opening.text not in "[(":
            raise SelectorError(f"expected '[' after 'in' at character {opening.pos + 1}")
        closing = "]" if opening.text == "[" else ")"
        items = [self.literal()]
        while self.take("punct", ","):
            if self.take("punct", closing):
                return tuple(items)
            items.append(self.literal())
        self.expect(f"',' or '{closing}'", "punct", closing)
        return tuple(items)

    def value(self) -> Column | Any:
        tok = self.take("name")
        return Column(tok.text) if tok else self.literal()

    def literal(self) -> Any:
        tok = self.take("number") or self.take("string") or self.take("literal")
        if tok is None:
            raise self.error("a column name, number or quoted string")
        if tok.kind == "number":
            number = float(tok.text)
            if not math.isfinite(number):
                raise SelectorError(f"number {_excerpt(tok.text)} is not finite")
            return number
        if tok.kind == "string":
            return tok.text[1:-1]
        return _LITERALS[tok.text]


def parse(text: str) -> Node:
    """The syntax tree of a selector; raises SelectorError (a one-line message)."""
    if not isinstance(text, str):
        raise SelectorError(f"a selector is text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise SelectorError(f"longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise SelectorError("empty selector")
    return _Parser(text).parse()


def columns(node: Node) -> set[str]:
    """Every column a selector names."""
    if isinstance(node, Bool):
        return set().union(*(columns(a) for a in node.args))
    values = (node.left, node.right) if isinstance(node, Compare) else (node.value,)
    return {v.name for v in values if isinstance(v, Column)}


def mask(table: pd.DataFrame, node: Node) -> pd.Series:
    """Which rows of ``table`` a parsed selector keeps (a boolean Series on its index)."""
    unknown = sorted(columns(node) - {str(c) for c in table.columns})
    if unknown:
        valid = ", ".join(str(c) for c in table.columns)
        raise SelectorError(f"unknown column {_excerpt(unknown[0], 40)} (columns: {valid})")
    return _mask(table, node)


def _operand(table: pd.DataFrame, value: Column | Any) -> Any:
    return table[value.name] if isinstance(value, Column) else value


def _as_mask(table: pd.DataFrame, result: Any) -> pd.Series:
    if isinstance(result, pd.Series):
        return result.fillna(False).astype(bool)
    return pd.Series(bool(result), index=table.index)


def _mask(table: pd.DataFrame, node: Node) -> pd.Series:
    if isinstance(node, Bool):
        parts = [_mask(table, a) for a in node.args]
        if node.op == "not":
            return ~parts[0]
        combine = np.logical_and if node.op == "and" else np.logical_or
        out = parts[0]
        for part in parts[1:]:
            out = combine(out, part)
        return out
    if isinstance(node, Member):
        values = _operand(table, node.value)
        if isinstance(values, pd.Series):
            hit = values.isin(list(node.options))
        else:
            hit = values in node.options
        return ~_as_mask(table, hit) if node.negated else _as_mask(table, hit)
    left, right = _operand(table, node.left), _operand(table, node.right)
    try:
        return _as_mask(table, _COMPARE[node.op](left, right))
    except TypeError:
        names = [v.name for v in (node.left, node.right) if isinstance(v, Column)]
        raise SelectorError(
            f"cannot compare {' and '.join(names) or 'the values'} with {node.op!r} "
            "(a number with text?)"
        ) from None


def select(table: pd.DataFrame, text: str) -> pd.DataFrame:
    """The rows of ``table`` a selector keeps, e.g. ``connections in [4, 32] and mode == 'x'``."""
    return table[mask(table, parse(text))]
