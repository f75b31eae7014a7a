"""What this test process holds, for the tests that check nothing leaks: open file
descriptors and resident memory (Linux ``/proc``)."""

from __future__ import annotations

import os

__all__ = ["open_fds", "rss_kib"]


def open_fds() -> int:
    """File descriptors open now."""
    return len(os.listdir("/proc/self/fd"))


def rss_kib() -> int:
    """Resident memory now, KiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")
