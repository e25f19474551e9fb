"""What the machine has free for framegen: memory, read before a stage commits to the work."""

from __future__ import annotations

import os
from pathlib import Path

NO_LIMIT = 2**62  # cgroup v1 writes "no limit" as a number near 2**63


def available_memory(root: Path = Path("/")) -> int | None:
    """Bytes of memory framegen may still use: the smaller of the system's MemAvailable and what the memory
    limit of this process's cgroup (a container's, a systemd slice's; v2 or v1) leaves. None where neither
    is known. `root`: where /proc and /sys are (a made-up tree in tests)."""
    known = [size for size in (meminfo_available(root), cgroup_available(root)) if size is not None]
    return min(known, default=None)


def meminfo_available(root: Path) -> int | None:
    """MemAvailable of /proc/meminfo in bytes (None where there is no /proc)."""
    try:
        for line in (root / "proc" / "meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def cgroup_available(root: Path) -> int | None:
    """Limit minus usage of the tightest memory limit on this process's cgroup or one of its ancestors
    (a limit set on a parent binds its children too); None without a limit."""
    left = []
    for folder, mount_point, limit_file, usage_file in cgroup_memory_folders(root):
        for level in [folder, *folder.parents]:
            limit, usage = read_number(level / limit_file), read_number(level / usage_file)
            if limit is not None and usage is not None and limit < NO_LIMIT:
                left.append(max(limit - usage, 0))
            if level == mount_point or mount_point not in level.parents:
                break
    return min(left, default=None)


def cgroup_memory_folders(root: Path) -> list[tuple[Path, Path, str, str]]:
    """(this process's cgroup folder, the hierarchy's mount point, limit file, usage file) of each memory cgroup hierarchy mounted:
    cgroup v2 (memory.max, memory.current) and v1's memory controller (memory.limit_in_bytes,
    memory.usage_in_bytes). Read from /proc/self/cgroup and /proc/self/mountinfo."""
    try:
        memberships = [line.split(":", 2) for line in (root / "proc/self/cgroup").read_text().splitlines()]
        mounts = [line.split() for line in (root / "proc/self/mountinfo").read_text().splitlines()]
    except OSError:
        return []
    paths = {"cgroup2" if hierarchy == "0" and not controllers else controllers: path
             for hierarchy, controllers, path in (m for m in memberships if len(m) == 3)}
    v1_memory = next((path for controllers, path in paths.items() if "memory" in controllers.split(",")), None)
    found = []
    for fields in mounts:
        if "-" not in fields or len(fields) < 5:
            continue
        kind, options = fields[fields.index("-") + 1], fields[-1].split(",")
        if kind == "cgroup2" and "cgroup2" in paths:
            files, path = ("memory.max", "memory.current"), paths["cgroup2"]
        elif kind == "cgroup" and "memory" in options and v1_memory is not None:
            files, path = ("memory.limit_in_bytes", "memory.usage_in_bytes"), v1_memory
        else:
            continue
        mount_root, mount_point = fields[3], root / fields[4].lstrip("/")
        inside = os.path.relpath(path, mount_root) if path.startswith(mount_root) else "."
        found.append((mount_point / inside, mount_point, *files))
    return found


def read_number(path: Path) -> int | None:
    """A cgroup file's number; None when it is absent, unreadable or "max" (no limit)."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
