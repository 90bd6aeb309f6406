"""`taskgate` run as a user runs it: the console script, in a process of its own, against a
real API process."""

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from tests.chaos.stack import free_port
from tests.support import processes
from tests.support.api import RESULTS, SUBMIT, wait_terminal
from tests.support.settings import ADMIN_KEY
from tests.support.waiting import wait_for

TASKGATE = str(processes.BIN / "taskgate")
AN_HOUR = 3600


@dataclass(frozen=True)
class Ran:
    """What one run of the command did."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """Stdout, which must be one JSON document."""
        return json.loads(self.out)

    def error_line(self) -> str:
        """Stderr, which must be one line (no traceback, no panel)."""
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        assert "Traceback" not in self.err
        return lines[0]


async def taskgate(
    *args: str, url: str, key: str | None = ADMIN_KEY, stdin: str = "", **env: str
) -> Ran:
    """Run `taskgate` against `url` with `key` (None: none), `stdin`, and a wide terminal."""
    environment = processes.environment({"TASKGATE_URL": url, "COLUMNS": "250", **env})
    environment.pop("TASKGATE_KEY", None)
    if key is not None:
        environment["TASKGATE_KEY"] = key
    done = await asyncio.to_thread(
        subprocess.run,
        [TASKGATE, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


async def _ready(url: str, api: processes.Process) -> bool:
    assert api.alive(), api.log()[-3000:]
    try:
        async with httpx.AsyncClient(base_url=url, timeout=2) as http:
            return (await http.get("/ready")).status_code == 200
    except httpx.TransportError:
        return False


@asynccontextmanager
async def api_process(**env: str) -> AsyncIterator[str]:
    """An API process (uvicorn, the tests' settings, `env` on top) on a free port: its URL,
    once ready."""
    port = free_port()
    api = processes.api(port=port, env=env).start()
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_for(lambda: _ready(url, api), timeout=30, what="the API process")
        yield url
    finally:
        api.stop()


async def task_of(api: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    """The task as the API tells it now."""
    response = await api.get(f"{RESULTS}{task_id}")
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()
    return task


async def later(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    """An echo task that waits an hour (scheduled) before it may run."""
    body = {"name": "echo", "delay_seconds": AN_HOUR, **fields}
    response = await api.post(SUBMIT, json=body)
    assert response.status_code == 202, response.text
    task: dict[str, Any] = response.json()
    return task


async def dead(api: httpx.AsyncClient, message: str) -> str:
    """A `fail` task of one attempt, run until it died; its id."""
    response = await api.post(
        SUBMIT, json={"name": "fail", "payload": {"message": message}, "max_attempts": 1}
    )
    assert response.status_code == 202, response.text
    task = await wait_terminal(api, response.json()["id"])
    assert task["status"] == "dead", task
    return str(task["id"])


def jsonl(*lines: Any) -> str:
    """JSON Lines: each value as JSON, each string as it is."""
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
