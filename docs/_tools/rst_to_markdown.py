"""Griffe extension for the API reference: the package's docstrings use a few reStructuredText constructs that
Markdown does not know, and this rewrites them before mkdocstrings renders the docstrings.

- ``.. math::`` blocks (on the directive's line, or indented below it) become ``$$`` blocks, one per equation
  group separated by blank lines (as RST's directive treats them);
- inline ``:math:`x``` becomes ``\\(x\\)`` (MathJax, through pymdownx.arithmatex);
- ``:class:`~a.b.C```, ``:func:``, ``:meth:``, ``:attr:``, ``:data:`` become optional cross-references: a link
  where the target is in the reference, plain code otherwise (``~`` keeps only the last name, as in Sphinx);
- an ``Example:`` section is read as Google style's ``Examples:``, so its doctest lines are shown as code;
- an argument list that wraps before its colon (``weight_decay, clipnorm, ...,`` then ``name: as in ...``) is
  joined into one entry.

The docstrings themselves stay as they are, so ``help()`` and IDEs show the same text as before.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|attr|data|exc|mod|obj):`(?P<target>[^`]+)`")
_MATH_ROLE = re.compile(r":math:`(?P<body>[^`]+)`")
_MATH_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<rest>.*)$")
_EXAMPLE_HEADER = re.compile(r"^(?P<indent>[ \t]*)Example:[ \t]*$", flags=re.MULTILINE)
# "name, name, name," at the end of a line, continued on the next, deeper-indented line up to "name: ..."
_WRAPPED_NAMES = re.compile(r"^(?P<names>[ \t]+\w+(?:, \w+)*,)[ \t]*\n[ \t]+(?=\w+(?:, \w+)*:)", flags=re.MULTILINE)


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


def _math_blocks(text: str) -> str:
    lines = text.splitlines()
    out: list[str] = []
    index = 0
    while index < len(lines):
        match = _MATH_DIRECTIVE.match(lines[index])
        if not match:
            out.append(lines[index])
            index += 1
            continue
        indent = match["indent"]
        body = [match["rest"]] if match["rest"].strip() else []
        index += 1
        # The directive's content: every following line indented deeper than the directive, or blank.
        while index < len(lines) and (not lines[index].strip() or _indent_of(lines[index]) > len(indent)):
            body.append(lines[index])
            index += 1
        while body and not body[-1].strip():
            index -= 1  # a trailing blank line belongs to the text after the block
            body.pop()
        groups: list[list[str]] = [[]]
        for line in body:
            if line.strip():
                groups[-1].append(line.strip())
            elif groups[-1]:
                groups.append([])
        for group in filter(None, groups):
            out.extend(["", f"{indent}$$", *(f"{indent}{line}" for line in group), f"{indent}$$", ""])
    return "\n".join(out)


def _cross_reference(match: re.Match) -> str:
    target = match["target"].strip()
    shown = target.lstrip("~")
    if target.startswith("~"):
        shown = shown.rsplit(".", 1)[-1]
    identifier = html.escape(target.lstrip("~").rstrip("()"), quote=True)
    return f'<autoref identifier="{identifier}" optional><code>{html.escape(shown)}</code></autoref>'


def convert(text: str) -> str:
    """The docstring ``text`` with its reStructuredText math and roles written for Markdown."""
    text = _math_blocks(text)
    text = _EXAMPLE_HEADER.sub(r"\g<indent>Examples:", text)
    text = _WRAPPED_NAMES.sub(r"\g<names> ", text)
    text = _MATH_ROLE.sub(lambda match: "\\(" + match["body"] + "\\)", text)
    return _ROLE.sub(_cross_reference, text)


class RstToMarkdown(griffe.Extension):
    """Rewrites every docstring of the loaded package once the object tree is complete."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and not obj.is_alias:
            obj.docstring.value = convert(obj.docstring.value)
