"""Go text/template's lexer: template text → tokens (text, delimiters, words, literals).

The first step of parsing. Trim markers (`{{- ` and ` -}}`) trim the whitespace next to an
action as the text is cut, comments (`{{/* */}}`) vanish, and what Go's lexer refuses is
refused with its words ("unclosed action", "bad number syntax: \"12a\"", ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from safeship.alerting.templates.nodes import go_quote
from safeship.core.errors import TemplateError

KEYWORDS = frozenset(
    ["block", "break", "continue", "define", "else", "end", "if", "range", "template", "with"]
)
_SPACE = " \t\r\n"
_WORD = re.compile(r"\w*", re.UNICODE)


@dataclass(frozen=True)
class Token:
    kind: str  # text, open, close, space, word, field, var, string, raw, char, number, bool,
    # pipe, lparen, rparen, declare, assign, comma, dot, nil, keyword, char_item, error, eof
    value: str
    pos: int  # byte offset
    line: int


class LexError(TemplateError):
    """What Go's lexer emits as an error item; the parser reports it when it gets there."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message, self.offset = message, offset


class Lexer:
    """Text → tokens. A lexing error ends the tokens with an `error` token: Go's lexer runs
    in step with the parser, so an earlier parse error is reported before it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.tokens: list[Token] = []
        self.trim_next = False

    def emit(self, kind: str, start: int, end: int) -> None:
        value = self.text[start:end]
        pos = len(self.text[:start].encode())
        self.tokens.append(Token(kind, value, pos, self.text.count("\n", 0, start) + 1))

    def run(self) -> list[Token]:
        try:
            while self.i < len(self.text):
                self.lex_text()
        except LexError as exc:
            pos = len(self.text[: exc.offset].encode())
            self.tokens.append(Token("error", exc.message, pos, self.line_at(exc.offset)))
        self.emit("eof", len(self.text), len(self.text))
        return self.tokens

    def fail(self, offset: int, message: str) -> LexError:
        return LexError(message, offset)

    def lex_text(self) -> None:
        start = self.i
        if self.trim_next:
            while start < len(self.text) and self.text[start] in _SPACE:
                start += 1
            self.trim_next = False
        found = self.text.find("{{", start)
        end = len(self.text) if found < 0 else found
        text_end = end
        trim = found >= 0 and self.text.startswith("-", found + 2)
        trim = trim and found + 3 < len(self.text) and self.text[found + 3] in _SPACE
        if trim:
            while text_end > start and self.text[text_end - 1] in _SPACE:
                text_end -= 1
        if text_end > start:
            self.emit("text", start, text_end)
        self.i = end
        if found >= 0:
            self.lex_action(found, trim)

    def lex_action(self, start: int, trim: bool) -> None:
        self.i = start + (4 if trim else 2)
        if self.text.startswith("/*", self.i):
            self.lex_comment(start)
            return
        self.emit("open", start, start + 2)
        depth = 0
        while True:
            if self.i >= len(self.text):
                raise self.fail(self.i, "unclosed action")
            if self.closes_at(self.i):
                if depth > 0:  # refused at the delimiter, before it is emitted
                    raise self.fail(self.i, "unclosed left paren")
                self.close()
                return
            depth = self.lex_one(depth)

    def line_at(self, offset: int) -> int:
        return self.text.count("\n", 0, offset) + 1

    def close(self) -> None:
        """Emit the `}}` at self.i (or ` -}}`, which trims the text that follows)."""
        if self.text.startswith("}}", self.i):
            self.emit("close", self.i, self.i + 2)
            self.i += 2
            return
        self.emit("close", self.i + 2, self.i + 4)
        self.i += 4
        self.trim_next = True

    def lex_comment(self, start: int) -> None:
        end = self.text.find("*/", self.i + 2)
        if end < 0:
            raise self.fail(start, "unclosed comment")
        self.i = end + 2
        if self.text.startswith("}}", self.i):
            self.i += 2
        elif self.text[self.i : self.i + 1] in tuple(_SPACE) and self.text.startswith(
            "-}}", self.i + 1
        ):
            self.i += 4
            self.trim_next = True
        else:
            raise self.fail(start, "comment ends before closing delimiter")

    def lex_one(self, depth: int) -> int:
        text, i = self.text, self.i
        char = text[i]
        simple = {"|": "pipe", "(": "lparen", ")": "rparen", ",": "comma", "=": "assign"}
        if char in _SPACE:
            end = i
            while end < len(text) and text[end] in _SPACE and not self.closes_at(end):
                end += 1
            self.emit("space", i, max(end, i + 1))
            self.i = max(end, i + 1)
        elif text.startswith(":=", i):
            self.emit("declare", i, i + 2)
            self.i = i + 2
        elif char in simple:
            self.emit(simple[char], i, i + 1)
            self.i = i + 1
            depth += {"(": 1, ")": -1}.get(char, 0)
        elif char in "\"`'":
            self.lex_quote(char)
        elif (
            char in "+-"
            or char.isdigit()
            or (
                char == "."
                and not text[i + 1 : i + 2].isalpha()
                and (i + 1 == len(text) or text[i + 1].isdigit())
            )
        ):  # a lone final "." too, as Go
            self.lex_number()
        elif char in ".$":
            end = _WORD.match(text, i + 1).end()  # type: ignore[union-attr]
            self.check_terminator(end)
            if char == "." and end == i + 1:
                self.emit("dot", i, i + 1)
            else:
                self.emit("field" if char == "." else "var", i, end)
            self.i = end
        elif char.isalnum() or char == "_":
            self.lex_word()
        elif char.isascii() and char.isprintable():
            self.emit("char_item", i, i + 1)  # Go's itemChar: the parser refuses it in context
            self.i = i + 1
        else:
            raise self.fail(i, f"unrecognized character in action: {_char(char)}")
        return depth

    def closes_at(self, offset: int) -> bool:
        return self.text.startswith(("}}", " -}}"), offset) or (
            self.text[offset] in _SPACE and self.text.startswith("-}}", offset + 1)
        )

    def check_terminator(self, end: int) -> None:
        """Go's atTerminator after a word at self.i..end: space, . , | : ( ) or }."""
        after = self.text[end : end + 1]
        if after and after not in _SPACE + ".,|:()}":
            raise self.fail(self.i, f"bad character {_char(after)}")

    def lex_word(self) -> None:
        end = _WORD.match(self.text, self.i).end()  # type: ignore[union-attr]
        word = self.text[self.i : end]
        kind = "keyword" if word in KEYWORDS else "word"
        kind = "bool" if word in ("true", "false") else "nil" if word == "nil" else kind
        self.check_terminator(end)  # before emitting: Go emits the error instead of the word
        self.emit(kind, self.i, end)
        self.i = end

    def lex_number(self) -> None:
        """Go's lexNumber: a number, or a complex `1+2i` (anything else after a sign fails)."""
        ok, end = self.scan_number(self.i)
        if ok and end < len(self.text) and self.text[end] in "+-":
            ok, end = self.scan_number(end)
            ok = ok and self.text[end - 1] == "i"
        if not ok:
            raise self.fail(self.i, f"bad number syntax: {go_quote(self.text[self.i : end])}")
        self.emit("number", self.i, end)
        self.i = end

    def scan_number(self, start: int) -> tuple[bool, int]:
        """Go's scanNumber from `start`, step by step: (well formed, where it stopped)."""
        text, end = self.text, start

        def accept(chars: str) -> bool:
            nonlocal end
            if end < len(text) and text[end] in chars:
                end += 1
                return True
            return False

        def accept_run(chars: str) -> None:
            while accept(chars):
                pass

        accept("+-")
        digits = "0123456789_"
        if accept("0"):
            for prefix, run in (
                ("xX", "0123456789abcdefABCDEF_"),
                ("oO", "01234567_"),
                ("bB", "01_"),
            ):
                if accept(prefix):
                    digits = run
                    break
        accept_run(digits)
        if accept("."):
            accept_run(digits)
        exponent = {11: "eE", 23: "pP"}.get(len(digits))
        if exponent and accept(exponent):
            accept("+-")
            accept_run("0123456789_")
        accept("i")
        if end < len(text) and (text[end].isalnum() or text[end] == "_"):
            return False, end + 1  # Go takes the offending character into the message
        return True, end

    def lex_quote(self, quote: str) -> None:
        i = self.i + 1
        names = {'"': "quoted string", "`": "raw quoted string", "'": "character constant"}
        while True:
            if i >= len(self.text) or (quote != "`" and self.text[i] == "\n"):
                raise self.fail(self.i, f"unterminated {names[quote]}")
            if quote != "`" and self.text[i] == "\\":
                i += 2
                continue
            if self.text[i] == quote:
                break
            i += 1
        kind = {'"': "string", "`": "raw", "'": "char"}[quote]
        self.emit(kind, self.i, i + 1)
        self.i = i + 1


def _char(char: str) -> str:
    """Go's %#U of a rune: U+0026 '&'."""
    return f"U+{ord(char):04X} '{char}'" if char.isprintable() else f"U+{ord(char):04X}"
