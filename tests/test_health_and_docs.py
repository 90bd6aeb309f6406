"""Probes and the OpenAPI documentation."""

import pytest

pytestmark = pytest.mark.integration


async def test_health_answers_ok(client):
    # Given the API running
    # When it is asked whether it is alive
    response = await client.get("/health")

    # Then it says so
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_reports_database_and_broker_reachable(client):
    # Given the API with PostgreSQL and RabbitMQ up
    # When it is asked whether it is ready
    response = await client.get("/ready")

    # Then both dependencies answer
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": True, "broker": True}


async def test_docs_page_is_served_as_html(client):
    # Given the API running
    # When the interactive documentation is requested
    response = await client.get("/docs")

    # Then an HTML page pointing at the OpenAPI schema is served
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text


async def test_every_operation_in_openapi_has_a_summary(client):
    # Given the OpenAPI schema
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]

    # When its operations are read
    operations = {
        f"{method.upper()} {path}": operation
        for path, methods in paths.items()
        for method, operation in methods.items()
    }

    # Then the contract's operations are there, each with a summary
    assert {"POST /api/v1/queue/", "GET /api/v1/result/{result_uuid}"} <= set(operations)
    missing = [name for name, op in operations.items() if not op.get("summary", "").strip()]
    assert missing == []
