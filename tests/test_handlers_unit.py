"""The handler registry and the built-in handlers, without any service running."""

import uuid
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from services.handlers import builtin
from services.handlers.builtin import EmulatePayload, TaskFailedError
from services.handlers.context import TaskContext
from services.handlers.loader import load_handlers
from services.handlers.progress import ProgressReport
from services.handlers.registry import HandlerRegistry, TaskHandler, task_handler


class GreetPayload(BaseModel):
    who: str


async def greet(payload: GreetPayload) -> str:
    return f"hello {payload.who}"


@pytest.fixture
def fresh() -> HandlerRegistry:
    """A registry of the test's own, so registering leaves the global one untouched."""
    return HandlerRegistry()


def draw_always(monkeypatch: pytest.MonkeyPatch, value: int) -> list[tuple[int, int]]:
    """Make the emulate handler draw `value`; returns the ranges it asked to draw from."""
    calls: list[tuple[int, int]] = []

    def randint(low: int, high: int) -> int:
        calls.append((low, high))
        return value

    monkeypatch.setattr(builtin.random, "randint", randint)
    return calls


def test_registering_a_second_handler_with_the_same_name_raises(fresh):
    # Given a registry holding a handler named "greet"
    fresh.add(TaskHandler(name="greet", func=greet, payload_type=GreetPayload))

    # When another handler is registered under that name
    # Then the registry refuses it, and keeps the first
    with pytest.raises(ValueError, match="already registered"):
        fresh.add(TaskHandler(name="greet", func=greet, payload_type=dict[str, Any]))
    assert fresh.get("greet").payload_type is GreetPayload


def test_decorating_two_functions_with_one_name_raises(fresh):
    # Given a handler registered with the decorator
    task_handler("greet", into=fresh)(greet)

    # When a second function is decorated with the same name
    # Then the decorator refuses it
    with pytest.raises(ValueError, match="greet"):

        @task_handler("greet", into=fresh)
        async def other(payload: GreetPayload) -> None:
            return None


def test_handler_payload_type_comes_from_its_annotation(fresh):
    # Given a function whose parameter is annotated with a payload model
    # When it is registered
    task_handler("greet", into=fresh)(greet)

    # Then the handler's payload type is that model, and payloads are parsed into it
    handler = fresh.get("greet")
    assert handler.payload_type is GreetPayload
    assert handler.parse_payload({"who": "world"}) == GreetPayload(who="world")
    with pytest.raises(ValidationError):
        handler.parse_payload({"who": 5})


def test_handler_without_annotation_takes_any_json_object(fresh):
    # Given a function whose parameter has no annotation
    async def anything(payload):  # type: ignore[no-untyped-def]
        return payload

    # When it is registered
    task_handler("anything", into=fresh)(anything)

    # Then its payload type is a JSON object
    handler = fresh.get("anything")
    assert handler.payload_type == dict[str, Any]
    assert handler.parse_payload({"a": [1]}) == {"a": [1]}


def test_handler_is_registered_under_its_function_name_by_default(fresh):
    # Given a handler decorated without a name
    # When it is registered
    task_handler(into=fresh)(greet)

    # Then it is found under the function's name
    assert fresh.names() == ["greet"]


def test_handler_with_two_payload_parameters_is_refused(fresh):
    # Given a function taking two plain parameters
    async def two(payload: dict[str, Any], extra: int) -> None:
        return None

    # When it is registered, then the decorator refuses it
    with pytest.raises(TypeError):
        task_handler("two", into=fresh)(two)
    assert fresh.get("two") is None


def test_registry_lists_names_sorted(fresh):
    # Given handlers registered out of order
    for name in ("zeta", "alpha", "mid"):
        fresh.add(TaskHandler(name=name, func=greet, payload_type=GreetPayload))

    # When the names are listed, then they are sorted
    assert fresh.names() == ["alpha", "mid", "zeta"]


def test_loading_handlers_registers_the_builtins():
    # Given the handler loader
    # When it runs
    registry = load_handlers()

    # Then the built-in handlers are registered
    assert {"echo", "emulate", "fail", "sleep"} <= set(registry.names())


async def test_emulate_succeeds_when_the_draw_equals_the_default_threshold(monkeypatch):
    # Given a draw of 80 out of 1..100
    calls = draw_always(monkeypatch, 80)

    # When emulate runs at the default failure rate of 0.2
    result = await builtin.emulate(EmulatePayload())

    # Then it succeeds, reporting the draw and the threshold
    assert result == {"draw": 80, "threshold": 80}
    assert calls == [(1, 100)]


async def test_emulate_fails_when_the_draw_is_above_the_default_threshold(monkeypatch):
    # Given a draw of 81 out of 1..100
    draw_always(monkeypatch, 81)

    # When emulate runs at the default failure rate
    # Then it fails with the emulated failure
    with pytest.raises(TaskFailedError, match="emulated failure: drew 81, above 80"):
        await builtin.emulate(EmulatePayload())


async def test_emulate_with_failure_rate_zero_succeeds_on_the_highest_draw(monkeypatch):
    # Given the highest draw
    draw_always(monkeypatch, 100)

    # When emulate runs with a failure rate of 0, then it succeeds
    assert await builtin.emulate(EmulatePayload(failure_rate=0)) == {"draw": 100, "threshold": 100}


async def test_emulate_with_failure_rate_one_fails_on_the_lowest_draw(monkeypatch):
    # Given the lowest draw
    draw_always(monkeypatch, 1)

    # When emulate runs with a failure rate of 1, then it fails
    with pytest.raises(TaskFailedError, match="drew 1, above 0"):
        await builtin.emulate(EmulatePayload(failure_rate=1))


async def test_echo_returns_its_payload():
    # Given a payload
    payload = {"a": [1, 2], "b": {"c": None}}

    # When echo runs, then its result is the payload
    assert await builtin.echo(payload) == payload


async def test_fail_raises_with_its_message():
    # Given a fail payload with a message
    # When fail runs, then it raises that message
    with pytest.raises(TaskFailedError, match="^boom$"):
        await builtin.fail(builtin.FailPayload(message="boom"))


class Reports(list[ProgressReport]):
    """A stand-in for a progress reporter: what the handler reported."""

    def report(self, report: ProgressReport) -> None:
        self.append(report)


def context_reporting_to(reports: Reports) -> TaskContext:
    return TaskContext(
        task_id=uuid.uuid4(),
        attempt=1,
        max_attempts=1,
        session=None,  # type: ignore[arg-type]
        sessions=None,  # type: ignore[arg-type]
        reporter=reports,  # type: ignore[arg-type]
    )


async def test_sleep_reports_how_long_it_slept():
    # Given a sleep of no time at all, and one of a twentieth of a second
    quiet, short = Reports(), Reports()

    # When sleep runs, then it reports the seconds, and its progress when there is any
    slept = await builtin.sleep(builtin.SleepPayload(seconds=0), context_reporting_to(quiet))
    assert slept == {"slept": 0.0} and quiet == []
    await builtin.sleep(builtin.SleepPayload(seconds=0.05), context_reporting_to(short))
    assert short == [
        ProgressReport(0.0, "slept 0 of 0.05 s"),
        ProgressReport(1.0, "slept 0.05 of 0.05 s"),
    ]
