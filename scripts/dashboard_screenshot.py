"""Take the README's screenshot of the dashboard: docs/dashboard.png, 1280x800.

Against a running Taskgate with its worker (`make run`, or any API and worker), it submits
tasks of every outcome for a while (succeeded, failed until dead, slow, scheduled,
cancelled, in the `default` queue and, if the deployment knows it, in `reports` at high
priority), then opens the dashboard in Chromium and saves what it shows:

    .venv/bin/python scripts/dashboard_screenshot.py                     # auth off
    .venv/bin/python scripts/dashboard_screenshot.py --key tg_…_…        # auth on
    .venv/bin/python scripts/dashboard_screenshot.py --url http://127.0.0.1:8000 \
        --seconds 45 --out docs/dashboard.png

An admin key shows RabbitMQ's counts too. Chromium: TASKGATE_TEST_CHROMIUM, else
/usr/bin/chromium (Debian's, as the browser tests use).
"""

import argparse
import asyncio
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("TASKGATE_TEST_CHROMIUM", "/usr/bin/chromium"))


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the Taskgate API")
    parser.add_argument("--key", default=os.environ.get("TASKGATE_KEY"), help="an API key")
    parser.add_argument("--seconds", type=float, default=40, help="how long to submit tasks")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    return parser.parse_args()


def mix(second: float, queues: list[str]) -> list[dict[str, Any]]:
    """The tasks of one tick: a rate that rises and falls, mostly successes."""
    wave = 6 + 5 * math.sin(second / 6)
    tasks: list[dict[str, Any]] = [
        {"name": "echo", "payload": {"n": random.randint(1, 10**6)}} for _ in range(int(wave))
    ]
    tasks.append({"name": "sleep", "payload": {"seconds": round(random.uniform(0.2, 2.5), 2)}})
    tasks.append({"name": "emulate", "payload": {"failure_rate": 0.15}})
    if random.random() < 0.2:
        tasks.append({"name": "fail", "payload": {"message": "upstream answered 503"}})
    if random.random() < 0.3:
        tasks.append({"name": "echo", "payload": {"remind": True}, "delay_seconds": 3600})
    if "reports" in queues:
        tasks.append(
            {"name": "sleep", "payload": {"seconds": 1.5}, "queue": "reports", "priority": 8}
        )
    return tasks


async def submit_for(http: httpx.AsyncClient, seconds: float) -> None:
    """Submit tasks once a second for `seconds`; cancel some of the scheduled ones."""
    listed = await http.get("/api/v1/queue/")  # admin keys only: else the default queue alone
    queues = [q["name"] for q in listed.json()["queues"]] if listed.is_success else ["default"]
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        answers = await asyncio.gather(
            *(http.post("/api/v1/queue/", json=task) for task in mix(elapsed, queues))
        )
        for answer in answers:
            answer.raise_for_status()
            task = answer.json()
            if task["status"] == "scheduled" and random.random() < 0.5:
                await http.post(f"/api/v1/queue/{task['id']}/cancel")
        await asyncio.sleep(max(0.0, 1 - (time.monotonic() - started - elapsed)))


async def screenshot(url: str, key: str | None, out: Path) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        page = await browser.new_page(base_url=url, viewport={"width": 1280, "height": 800})
        await page.goto("/dashboard")
        if "/dashboard/login" in page.url:
            if not key:
                sys.exit("the dashboard asks for a key: pass --key (an admin key shows the most)")
            await page.get_by_label("API key").fill(key)
            await page.get_by_role("button", name="Sign in").click()
        await page.locator("#throughput-chart canvas").wait_for()
        # Two refreshes of the live figures, so that the chart has its latest seconds.
        await page.wait_for_timeout(2500)
        out.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(out))
        await browser.close()


async def main() -> None:
    args = arguments()
    headers = {"Authorization": f"Bearer {args.key}"} if args.key else {}
    # Idle connections are dropped before uvicorn closes them (after 5 s): a POST is
    # never sent on one the server is closing.
    limits = httpx.Limits(keepalive_expiry=2)
    async with httpx.AsyncClient(
        base_url=args.url, headers=headers, timeout=30, limits=limits
    ) as http:
        (await http.get("/health")).raise_for_status()
        print(f"submitting tasks for {args.seconds:.0f} s to {args.url}")
        await submit_for(http, args.seconds)
    await screenshot(args.url, args.key, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    asyncio.run(main())
