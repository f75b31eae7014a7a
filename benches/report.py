"""What the benchmark scripts share: number formats, the results tables, the environment
header, process reaping and the resident-memory reading.

Used by ``compare.py``, ``broadcast.py`` and ``soak.py``. Results are
``{name: {step: {"ok": bool, ...}}}``: per client (or server), per scenario (or measurement
step), one result dict with ``"ok"`` and, if not ok, ``"error"``.
"""

from __future__ import annotations

import importlib.metadata
import multiprocessing
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Results = dict[str, dict[str, dict[str, Any]]]

# -- number formats -----------------------------------------------------------------------------


def rate(v: float) -> str:
    """Per second, in thousands: ``3,512k``."""
    return f"{v / 1000:,.0f}k"


def us(v: float) -> str:
    """Microseconds: one decimal below 100."""
    return f"{v:,.1f}" if v < 100 else f"{v:,.0f}"


def cpu(v: float) -> str:
    """CPU microseconds per message or update."""
    return f"{v:.2f}"


def pct(v: float) -> str:
    """A share of a CPU, in percent."""
    return f"{100 * v:.0f}"


def loadavg(values: Iterable[float]) -> str:
    return " ".join(f"{x:.2f}" for x in values)


# -- tables -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A table column: ``fmt(results[name][step][key])``."""

    title: str
    step: str
    key: str
    fmt: Callable[[float], str]


def cell(results: Results, name: str, col: Column, baseline: str | None) -> str:
    """One cell; with a ``baseline``, followed by the ratio to the baseline's value where it has one."""
    result = results[name].get(col.step)
    if result is None:
        return "-"
    if not result["ok"]:
        return "FAILED"
    value = result.get(col.key)
    if value is None:
        return "-"
    text = col.fmt(value)
    base = results.get(baseline, {}).get(col.step) if baseline is not None else None
    if base is not None and base["ok"] and base.get(col.key):
        text += f" ({value / base[col.key]:.2f}x)"
    return text


def render_table(results: Results, columns: tuple[Column, ...], *, first: str, baseline: str | None, hide_empty: bool = False) -> str:
    """A row per name (first column titled ``first``), names left-aligned, cells right-aligned;
    ``hide_empty`` leaves out the columns of steps that no one ran."""
    shown = [c for c in columns if any(c.step in r for r in results.values())] if hide_empty else list(columns)
    rows = [[first, *(c.title for c in shown)]]
    rows += [[name, *(cell(results, name, c, baseline) for c in shown)] for name in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(text.ljust(w) if i == 0 else text.rjust(w) for i, (text, w) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_failures(results: Results) -> None:
    failures = [(name, step, r["error"]) for name, by_step in results.items() for step, r in by_step.items() if not r["ok"]]
    if failures:
        print("\nfailures:")
        for name, step, error in failures:
            print(f"  {name} / {step}: {error}")


def all_ok(results: Results) -> bool:
    return all(r["ok"] for by_step in results.values() for r in by_step.values())


# -- environment --------------------------------------------------------------------------------


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def tickwire_version() -> str:
    """Without importing tickwire: the orchestrator must not depend on the built core."""
    installed = version("tickwire")
    if installed != "not installed":
        return installed
    cores = sorted((Path(__file__).resolve().parent.parent / "python" / "tickwire").glob("_core*.so"))
    return f"source tree, {cores[0].name}" if cores else "source tree, _core not built"


def environment(packages: tuple[str, ...], **extra: Any) -> dict[str, Any]:
    """The machine, the command and the versions of tickwire and ``packages``; ``extra`` goes
    before ``versions``."""
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "?")
    return {
        "command": shlex.join([sys.executable, *sys.argv]),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": model,
        "cpus_available": sorted(os.sched_getaffinity(0)),
        "loadavg": os.getloadavg(),
        **extra,
        "versions": {"tickwire": tickwire_version(), **{p: version(p) for p in packages}},
    }


def print_header(env: dict[str, Any], pinning: str, runs: str) -> None:
    """The header of a report: command, machine, ``pinning``, versions, ``runs``, and a warning
    if the machine was busy."""
    print(f"command:  {env['command']}")
    print(f"machine:  {env['cpu_model']}, CPUs {env['cpus_available']}, {env['platform']}, load {loadavg(env['loadavg'])}")
    print(f"pinning:  {pinning}")
    print(f"python:   {env['python']}; " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()))
    print(f"runs:     {runs}")
    if env["loadavg"][0] > 0.5:
        print(f"warning:  load average {env['loadavg'][0]:.2f}: something else is running, numbers will be noisy")
    print(flush=True)


def print_total(env: dict[str, Any], started: float) -> None:
    """The last line of a report, ``started`` being ``time.monotonic()`` before the runs;
    records the load average after them in ``env``."""
    env["loadavg_after"] = os.getloadavg()
    print(f"total {time.monotonic() - started:.0f} s; load average now {loadavg(env['loadavg_after'])}")


# -- processes ----------------------------------------------------------------------------------

REAP_TIMEOUT_S = 5.0


def reap(process: multiprocessing.process.BaseProcess, timeout: float = REAP_TIMEOUT_S) -> None:
    """Make sure ``process`` is gone: wait briefly, then terminate, then kill (by its PID)."""
    process.join(timeout)
    if process.is_alive():
        process.terminate()
        process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join(timeout)


def rss_kib(pid: int | str = "self") -> int:
    """Resident memory of process ``pid`` (this one by default), in KiB: ``VmRSS`` of
    ``/proc/<pid>/status``."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise LookupError(f"no VmRSS in /proc/{pid}/status")
