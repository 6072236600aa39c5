"""A report as a document: sections of paragraphs, numbered tables and figures.

The report builder produces a :class:`Document`; each output format (HTML, Markdown, Word, the
rounded CSV/XLSX tables) is a writer that walks the same document, so every format shows the
same tables with the same numbers, titles and notes.  Tables hold *raw* numbers: rounding and the
style of a cell (APA 7 or a three-line table, p as ``< .001``, no leading zero where a value
cannot exceed 1) belong to the writer, which reads each column's :class:`Column` kind.

Column kinds
------------
``text``     words (labels, verdicts), printed as they are
``number``   a real number, ``decimals`` places
``bounded``  a number that cannot exceed 1 in absolute value (a correlation, a standardized
             loading, α, ω, AVE, CFI, RMSEA): APA prints it without the leading zero
``p``        a p-value: ``< .001``, otherwise three decimals without the leading zero
``count``    a whole number (N, df)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import pandas as pd

KINDS = ("text", "number", "bounded", "p", "count")


@dataclass(frozen=True)
class Column:
    """How one column of a :class:`Table` is printed."""
    name: str                 # the column of ``Table.frame``
    header: str | None = None  # printed header (labelled, in the report's language); None: name
    kind: str = "number"      # one of KINDS
    decimals: int = 2

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"column kind {self.kind!r} is not one of {', '.join(KINDS)}")

    @property
    def title(self) -> str:
        return self.name if self.header is None else self.header


@dataclass
class Table:
    """A table for the reader: raw numbers in ``frame``, printed by ``columns``.

    ``key`` is the file stem of its CSV/XLSX (``tables/{key}.csv``); ``columns`` lists the
    printed columns in order (None: every column of ``frame``, kinds guessed by the writer).
    ``number`` is set by :meth:`Document.number_items`.
    """
    key: str
    title: str
    frame: pd.DataFrame
    columns: list[Column] | None = None
    note: str = ""
    number: int | None = None


@dataclass
class Figure:
    """A figure: a matplotlib ``Figure``; ``key`` is its file stem (``figures/{key}.png``)."""
    key: str
    title: str
    figure: object
    note: str = ""
    number: int | None = None


@dataclass
class Paragraph:
    """Running text; ``kind`` is ``text``, ``note`` (a caveat) or ``warning``."""
    text: str
    kind: str = "text"


@dataclass
class Section:
    """One section of the report: ``key`` is its anchor, ``blocks`` its content in order
    (:class:`Paragraph`, :class:`Table`, :class:`Figure`, or a nested :class:`Section`)."""
    key: str
    title: str
    blocks: list = field(default_factory=list)

    def add(self, block):
        self.blocks.append(block)
        return block


@dataclass
class Document:
    """The whole report: title, language (``en``/``zh``), sections, and the warnings of the run
    (each once, one line)."""
    title: str
    lang: str = "en"
    sections: list[Section] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def walk(self) -> Iterator[tuple[int, object]]:
        """Every block in reading order with its depth (sections included, depth 1 at the top)."""
        def rec(sec: Section, depth: int):
            yield depth, sec
            for b in sec.blocks:
                if isinstance(b, Section):
                    yield from rec(b, depth + 1)
                else:
                    yield depth, b
        for s in self.sections:
            yield from rec(s, 1)

    def tables(self) -> list[Table]:
        return [b for _, b in self.walk() if isinstance(b, Table)]

    def figures(self) -> list[Figure]:
        return [b for _, b in self.walk() if isinstance(b, Figure)]

    def number_items(self) -> "Document":
        """Number tables and figures 1, 2, … in reading order (each series on its own)."""
        for i, t in enumerate(self.tables(), 1):
            t.number = i
        for i, f in enumerate(self.figures(), 1):
            f.number = i
        return self
