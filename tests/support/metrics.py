"""Reading Prometheus metrics as a scraper does: the text format, parsed."""

import json
import re
import socket
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Scrape:
    """The samples of one scrape."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = [
            sample for family in text_string_to_metric_families(text) for sample in family.samples
        ]
        self.families = {family.name for family in text_string_to_metric_families(text)}

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples named `name` whose labels include `labels` (0: none)."""
        return sum(
            sample.value
            for sample in self.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )

    def labels(self, name: str) -> list[dict[str, Any]]:
        """The label sets of the samples named `name`."""
        return [sample.labels for sample in self.samples if sample.name == name]


async def scrape(http: httpx.AsyncClient, path: str = "/metrics", **headers: str) -> Scrape:
    """GET the metrics (which must answer 200 in the text format) and parse them."""
    response = await http.get(path, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    return Scrape(response.text)


DASHBOARD = (
    Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards" / "taskgate.json"
)
METRIC_NAME = re.compile(r"\b(?:taskgate|faststream)_[a-z0-9_]+")


def dashboard_queries() -> list[str]:
    """The PromQL of every panel of the Grafana dashboard."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def dashboard_metric_names() -> set[str]:
    """The sample names (`…_total`, `…_bucket`) the dashboard's queries read."""
    return {name for query in dashboard_queries() for name in METRIC_NAME.findall(query)}
