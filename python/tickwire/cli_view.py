"""How the long-running commands (``demo``, ``serve``, ``simulate``) show their status each second.

Each second a command hands the view one row per venue (or one row in all), a ``dict`` whose
keys are the row's figures. The view shows them in one of four ways:

- ``table``: a live table redrawn in place (rich), the default on a terminal;
- ``lines``: a text line per row, the default when stdout is a pipe or file, so logs and
  ``grep`` keep working;
- ``json``: one JSON object per second, ``{"elapsed_s": …, "rows": [{…}, …]}``, for scripts;
- ``quiet``: nothing until the summary.

The summary at the end is a text line, or one JSON object ``{"summary": {…}}`` in ``json`` mode.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table

__all__ = ["Column", "StatusView", "ViewMode", "view_mode"]

#: How a view shows its rows.
ViewMode = Literal["table", "lines", "json", "quiet"]

Row = dict[str, Any]


def view_mode(*, as_json: bool, quiet: bool, plain: bool) -> ViewMode:
    """The mode the options ask for: ``--json``, ``--quiet``, ``--plain``, else a live table
    on a terminal and lines elsewhere."""
    if as_json:
        return "json"
    if quiet:
        return "quiet"
    if plain or not sys.stdout.isatty():
        return "lines"
    return "table"


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the live table: its heading, and its cell's text for a row (rich markup
    allowed)."""

    title: str
    text: Callable[[Row], str]
    justify: Literal["left", "right"] = "right"

    @classmethod
    def field(cls, key: str, title: str | None = None, spec: str = "", justify: Literal["left", "right"] = "right") -> Column:
        """The column showing ``row[key]`` formatted by ``spec`` (``","`` for thousands)."""
        return cls(title or key, lambda row: format(row[key], spec), justify)


class StatusView:
    """Shows a command's rows each second in the chosen :data:`ViewMode`.

    ``line`` turns a row into its text line (``lines`` mode); ``columns`` lay out the table.
    Use as a context manager: the table is drawn while inside, and left on screen after.
    """

    def __init__(self, mode: ViewMode, columns: Sequence[Column], line: Callable[[Row], str], title: str) -> None:
        self.mode = mode
        self.columns = tuple(columns)
        self.line = line
        self.title = title
        self.started = time.monotonic()
        self.console = Console(highlight=False)
        self.live: Live | None = None

    def __enter__(self) -> StatusView:
        if self.mode == "table":
            self.live = Live(self._table([]), console=self.console, refresh_per_second=4, auto_refresh=False)
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def note(self, text: str) -> None:
        """A message for people (the dashboard's URL, say): printed in every mode but ``json``
        and ``quiet``, where it goes to stderr so stdout stays machine-readable."""
        if self.mode in ("json", "quiet"):
            print(text, file=sys.stderr, flush=True)
        elif self.live is not None:
            self.live.console.print(text)
        else:
            print(text, flush=True)

    def show(self, rows: Sequence[Row]) -> None:
        """This second's rows."""
        if self.mode == "table" and self.live is not None:
            self.live.update(self._table(rows), refresh=True)
        elif self.mode == "lines":
            print("\n".join(self.line(row) for row in rows), flush=True)
        elif self.mode == "json":
            elapsed = round(time.monotonic() - self.started, 3)
            print(json.dumps({"elapsed_s": elapsed, "rows": list(rows)}), flush=True)

    def summary(self, text: str, fields: Row) -> None:
        """The closing summary: ``text`` for people, ``fields`` for ``json`` mode."""
        self.__exit__()
        if self.mode == "json":
            print(json.dumps({"summary": fields}), flush=True)
        else:
            print(text, flush=True)

    def _table(self, rows: Sequence[Row]) -> Table:
        elapsed = time.monotonic() - self.started
        table = Table(
            title=f"{self.title}  ·  {elapsed:,.0f} s  ·  Ctrl-C to stop",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            collapse_padding=True,
        )
        for column in self.columns:
            table.add_column(column.title, justify=column.justify, no_wrap=True, min_width=len(column.title))
        for row in rows:
            table.add_row(*(column.text(row) for column in self.columns))
        return table
