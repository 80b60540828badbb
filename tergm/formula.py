"""Parse ergm/btergm model formulas without evaluating them.

A formula such as

    cmaa ~ edges + gwesp(0.5, fixed=TRUE) + absdiff("polyarchy") + edgecov(mlat) + degree(0:3)

is tokenized and parsed by a small recursive-descent parser into a `Formula`: the (informational)
response name and a list of `TermCall`s, each with positional and named argument values. Nothing is
ever evaluated as code. The grammar is the subset of R that ergm formulas use:

    formula  := [expr] '~' term ('+' term)*
    term     := NAME ['(' [arg (',' arg)*] ')']
    arg      := [NAME '='] value
    value    := unary [':' unary]                       # a:b is R's integer range
    unary    := ['-'] primary
    primary  := NUMBER | STRING | TRUE | FALSE | T | F | True | False | NULL | None
              | 'c' '(' [value (',' value)*] ')'      # R's c(...): a tuple
              | NAME                                  # a bare name, e.g. a covariate: `Name`
              | '(' value ')'

Values become Python values: numbers -> int or float, strings -> str, logicals -> bool, NULL -> None,
c(...) and a:b -> tuple, bare names -> `Name` (a str subclass, so covariate names may be bare or quoted).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any


class FormulaError(ValueError):
    """A formula that cannot be parsed or does not describe a valid model."""


class FormulaSyntaxError(FormulaError):
    """A syntax error; the message shows the formula with a caret under the offending position."""

    def __init__(self, message: str, text: str, position: int):
        self.position = position
        self.text = text
        super().__init__(f"{message} at position {position}:\n{_point_at(text, position)}")


class Name(str):
    """A bare (unquoted) R symbol, such as a covariate name in `edgecov(primary)`."""

    def __repr__(self) -> str:
        return f"Name({str.__repr__(self)})"


@dataclass(frozen=True)
class TermCall:
    """One term of the formula as written: `name(args..., key=value...)`."""

    name: str
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    position: int = 0  # offset of the term name in the formula text (for error messages)
    text: str = ""  # the term as written, e.g. 'gwesp(0.5, fixed = TRUE)'


@dataclass(frozen=True)
class Formula:
    response: str | None  # the left-hand side as written (informational)
    terms: list[TermCall]
    text: str


def parse_formula(text: str) -> Formula:
    """Parse an ergm/btergm formula; raises FormulaSyntaxError pointing at the problem."""
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be a string, got {type(text).__name__}")
    return _Parser(text).formula()


# ---------------------------------------------------------------------------------------------
# Tokenizer

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_.][A-Za-z0-9_.]*|`[^`]+`)
  | (?P<op>[~+(),=:\-])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, name, op, end
    value: str
    position: int


def _tokenize(text: str) -> list[_Token]:
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise FormulaSyntaxError(f"unexpected character {text[position]!r}", text, position)
        kind = match.lastgroup
        if kind != "space":
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


_LOGICALS = {"TRUE": True, "T": True, "True": True, "FALSE": False, "F": False, "False": False}
_NULLS = {"NULL", "None"}


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    # -- helpers -------------------------------------------------------------------------------
    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at(self, kind: str, value: str | None = None) -> bool:
        token = self.current
        return token.kind == kind and (value is None or token.value == value)

    def expect(self, kind: str, value: str | None = None, what: str | None = None) -> _Token:
        if not self.at(kind, value):
            self.fail(f"expected {what or repr(value or kind)}")
        return self.advance()

    def fail(self, expectation: str):
        token = self.current
        found = "end of formula" if token.kind == "end" else repr(token.value)
        raise FormulaSyntaxError(f"{expectation}, found {found}", self.text, token.position)

    # -- grammar -------------------------------------------------------------------------------
    def formula(self) -> Formula:
        response = None
        if not self.at("op", "~"):
            start = self.current.position
            self.skip_response()
            response = self.text[start : self.current.position].strip()
        self.expect("op", "~", "'~' after the response")
        terms = [self.term()]
        while self.at("op", "+"):
            self.advance()
            terms.append(self.term())
        if not self.at("end"):
            self.fail("expected '+' or the end of the formula")
        return Formula(response, terms, self.text)

    def skip_response(self):
        """The left-hand side is informational: a name, optionally called (`list(a, b)`)."""
        if not self.at("name"):
            self.fail("expected a response name or '~'")
        self.advance()
        if self.at("op", "("):
            depth = 0
            while not self.at("end"):
                token = self.advance()
                if token.kind == "op" and token.value == "(":
                    depth += 1
                elif token.kind == "op" and token.value == ")":
                    depth -= 1
                    if depth == 0:
                        return
            self.fail("expected ')' to close the response")

    def term(self) -> TermCall:
        if not self.at("name"):
            self.fail("expected a term name")
        token = self.advance()
        name = _unquote_name(token.value)
        args: list = []
        kwargs: dict[str, Any] = {}
        if self.at("op", "("):
            self.advance()
            if not self.at("op", ")"):
                self.argument(args, kwargs)
                while self.at("op", ","):
                    self.advance()
                    self.argument(args, kwargs)
            self.expect("op", ")", f"',' or ')' in the arguments of {name}")
        text = self.text[token.position : self.tokens[self.index - 1].position + len(self.tokens[self.index - 1].value)]
        return TermCall(name, tuple(args), kwargs, token.position, text)

    def argument(self, args: list, kwargs: dict):
        token = self.current
        if (
            token.kind == "name"
            and self.tokens[self.index + 1].kind == "op"
            and self.tokens[self.index + 1].value == "="
        ):
            key = _unquote_name(self.advance().value)
            self.advance()  # '='
            if key in kwargs:
                raise FormulaSyntaxError(f"argument {key!r} given twice", self.text, token.position)
            kwargs[key] = self.value()
        else:
            if kwargs:
                raise FormulaSyntaxError("a positional argument cannot follow a named one", self.text, token.position)
            args.append(self.value())

    def value(self):
        start = self.current.position
        left = self.unary()
        if self.at("op", ":"):
            self.advance()
            right = self.unary()
            return _r_range(left, right, self.text, start)
        return left

    def unary(self):
        if self.at("op", "-"):
            position = self.advance().position
            operand = self.unary()
            if isinstance(operand, bool) or not isinstance(operand, (int, float, tuple)):
                raise FormulaSyntaxError("'-' applies only to numbers", self.text, position)
            if isinstance(operand, tuple):
                if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in operand):
                    raise FormulaSyntaxError("'-' applies only to numbers", self.text, position)
                return tuple(-v for v in operand)
            return -operand
        return self.primary()

    def primary(self):
        token = self.current
        if token.kind == "number":
            self.advance()
            return _number(token.value)
        if token.kind == "string":
            self.advance()
            return _unescape(token.value[1:-1])
        if token.kind == "op" and token.value == "(":
            self.advance()
            inner = self.value()
            self.expect("op", ")", "')'")
            return inner
        if token.kind == "name":
            self.advance()
            if token.value in _LOGICALS:
                return _LOGICALS[token.value]
            if token.value in _NULLS:
                return None
            if token.value == "c" and self.at("op", "("):
                self.advance()
                items: list = []
                if not self.at("op", ")"):
                    items.extend(_flatten(self.value()))
                    while self.at("op", ","):
                        self.advance()
                        items.extend(_flatten(self.value()))
                self.expect("op", ")", "',' or ')' in c(...)")
                return tuple(items)
            if self.at("op", "("):
                raise FormulaSyntaxError(
                    f"function calls other than c(...) are not supported in arguments ({token.value}(...))",
                    self.text,
                    token.position,
                )
            return Name(_unquote_name(token.value))
        self.fail("expected a value (number, string, TRUE/FALSE, name, c(...) or a:b)")


def _number(text: str) -> int | float:
    text = text.rstrip("L")
    value = float(text)
    if re.fullmatch(r"\d+", text):
        return int(text)
    return value


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _unquote_name(name: str) -> str:
    return name[1:-1] if name.startswith("`") else name


def _flatten(value) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def _r_range(left, right, text: str, position: int) -> tuple:
    """R's `a:b`: from a in steps of +-1 while not past b (integers when a is whole)."""
    for value in (left, right):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FormulaSyntaxError("both ends of a:b must be numbers", text, position)
    step = 1 if right >= left else -1
    count = int(math.floor(abs(right - left) + 1e-10)) + 1
    whole = float(left).is_integer()
    return tuple((int(left) + step * k) if whole else (left + step * k) for k in range(count))


def _point_at(text: str, position: int) -> str:
    """The line of `text` holding `position`, with a caret under it."""
    line_start = text.rfind("\n", 0, position) + 1
    line_end = text.find("\n", position)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    return f"  {line}\n  {' ' * (position - line_start)}^"


def format_r_number(value) -> str:
    """A number as R's paste()/as.character() writes it (15 significant digits, R's choice of
    fixed or scientific notation), so coefficient names match ergm's: 0.5 -> "0.5", 1 -> "1",
    1e-4 -> "1e-04", 1e5 -> "1e+05"."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    digits = f"{value:.14e}"  # 15 significant digits
    mantissa, exponent = digits.split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    exponent = int(exponent)
    sign = "-" if mantissa.startswith("-") else ""
    mantissa = mantissa.lstrip("-")
    significant = mantissa.replace(".", "")
    scientific = f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent >= 0:
        integer = significant[: exponent + 1].ljust(exponent + 1, "0")
        fraction = significant[exponent + 1 :]
        fixed = f"{sign}{integer}{'.' + fraction if fraction else ''}"
    else:
        fixed = f"{sign}0.{'0' * (-exponent - 1)}{significant}"
    # R prefers fixed notation unless it is wider than scientific (scipen = 0).
    return fixed if len(fixed) <= len(scientific) else scientific
