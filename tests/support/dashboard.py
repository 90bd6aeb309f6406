"""The dashboard as a browser uses it, over ASGI: a session cookie kept, the CSRF token of
its pages sent back with every form."""

import re
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from tests.support.api import SUBMIT, in_process_client, marker

ORIGIN = "http://taskgate.test"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Dashboard:
    """A browser-like client of the dashboard: cookies kept, a page's CSRF token known."""

    http: httpx.AsyncClient
    csrf: str

    async def post(
        self, path: str, data: dict[str, str] | None = None, **headers: str
    ) -> httpx.Response:
        form = {"csrf_token": self.csrf, **(data or {})}
        return await self.http.post(path, data=form, headers={"Origin": ORIGIN, **headers})


def dashboard_client(app: FastAPI, base_url: str = ORIGIN) -> httpx.AsyncClient:
    """A client sending no API key: the dashboard's session cookie is all it has."""
    return in_process_client(app, base_url=base_url)


async def signed_in(app: FastAPI, key: str) -> Dashboard:
    http = dashboard_client(app)
    response = await http.post("/dashboard/login", data={"key": key}, headers={"Origin": ORIGIN})
    assert response.status_code == 303, response.text
    page = await http.get("/dashboard/tasks")
    assert page.status_code == 200, page.text
    return Dashboard(http=http, csrf=CSRF.search(page.text)[1])


async def later_task(client: httpx.AsyncClient) -> str:
    """A task due in an hour (scheduled: nothing runs it meanwhile); its id."""
    response = await client.post(
        SUBMIT, json={"name": "echo", "delay_seconds": 3600, "payload": {"m": marker()}}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])
