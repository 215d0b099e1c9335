"""CSV files read with a bound: a file that is one 100 MB line (a spreadsheet saved with
old Mac line ends, a dump that is not a CSV), a 100 MB header, or a row that never ends (a
quote left open) is refused after a megabyte, with the line to look at, instead of being
read whole into memory (csv and TextIOWrapper would hold the whole line, then the row)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

# Characters in one row (its line, or its lines when quoted fields hold line breaks). Real
# rows hold a few hundred; a spreadsheet's widest export, some tens of thousands.
MAX_ROW = 1_000_000


class ImportFailed(Exception):
    """The file cannot be imported at all; nothing was written."""


class BoundedLines:
    """The lines of a text stream (opened with newline=""), for csv.reader, each read
    with readline(limit) so that no line is ever read past the bound. The reader asks for
    one row's lines at a time: `next_row()` after each row starts the count again. (A
    generator, not __next__: half a million rows pay for each call.)"""

    def __init__(self, text: IO[str], limit: int = MAX_ROW) -> None:
        self.text, self.limit = text, limit
        self.line = 0  # lines read so far: the number of the last one
        self.row_start = 1  # the line where the row being read starts
        self.row_chars = 0  # characters of that row read so far

    def __iter__(self) -> Iterator[str]:
        readline, limit = self.text.readline, self.limit
        while line := readline(limit - self.row_chars + 1):
            self.line += 1
            self.row_chars += len(line)
            if self.row_chars > limit:
                raise ImportFailed(self._too_long())
            yield line

    def next_row(self) -> None:
        self.row_chars = 0
        self.row_start = self.line + 1

    def header(self) -> str:
        """The first line, bounded like the others ("" for an empty file)."""
        first = next(iter(self), "")
        self.next_row()
        return first

    def _too_long(self) -> str:
        if self.row_start == self.line:
            return f"line {self.line} is longer than {self.limit:,} characters"
        return (f"the row from line {self.row_start} is longer than {self.limit:,} characters "
                f"by line {self.line} (a quote left open?)")
