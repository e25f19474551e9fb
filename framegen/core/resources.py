"""What the machine has free for framegen: memory, read before a stage commits to the work."""

from __future__ import annotations

from pathlib import Path


def available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (None where there is no /proc)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
