"""CPU time and memory of processes, read from /proc (Linux)."""

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Stat:
    """The fields of /proc/<pid>/stat the benchmark reads (CPU in seconds)."""

    ppid: int
    cpu: float
    # CPU of children that exited and were waited for (PostgreSQL's backends, for its
    # postmaster).
    reaped_cpu: float


def stat(pid: int) -> Stat | None:
    """The process's CPU time, user plus system, all threads; None once it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its end.
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return Stat(
        ppid=int(fields[1]),
        cpu=(utime + stime) / TICKS_PER_SECOND,
        reaped_cpu=(cutime + cstime) / TICKS_PER_SECOND,
    )


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of a live process, in seconds."""
    found = stat(pid)
    if found is None:
        raise ProcessLookupError(pid)
    return found.cpu


def tree(pid: int) -> list[int]:
    """The process and all its descendants (uvicorn's or FastStream's worker processes)."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (found := stat(int(entry.name))) is not None:
            children.setdefault(found.ppid, []).append(int(entry.name))
    pids, pending = [], [pid]
    while pending:
        current = pending.pop()
        pids.append(current)
        pending.extend(children.get(current, []))
    return pids


def tree_cpu_seconds(pid: int) -> float:
    """User plus system CPU of a live process and its live descendants, in seconds."""
    return sum(found.cpu for each in tree(pid) if (found := stat(each)) is not None)


def tree_memory_kib(pid: int, field: str) -> int:
    """`memory_kib` summed over the process and its descendants."""
    return sum(memory_kib(each, field) for each in tree(pid))


def memory_kib(pid: int, field: str) -> int:
    """A /proc/<pid>/status memory field in KiB: VmRSS (now) or VmHWM (peak)."""
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def pids_named(command: str) -> list[int]:
    """Processes whose command name (/proc/<pid>/comm) is `command`."""
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == command:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def title(pid: int) -> str:
    """The process's command line, as it shows in `ps` (PostgreSQL rewrites it)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()
