"""What the dashboard's filters and forms send, read with the API's own rules: the same
types, limits and messages (app/schemas.py, the listing's parameters). A field left empty
in a form is a filter not given; everything else that breaks a rule is a 422 naming it.
"""

import json
from collections.abc import Iterable
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import FormData, QueryParams

from app.api.deps import MAX_PAGE_SIZE
from app.api.routes.results import MAX_FILTER_VALUES
from app.schemas import (
    MAX_BULK_REPLAY,
    DeadLetterFilters,
    DeadLetterSelection,
    FilterText,
    Moment,
    TenantName,
)
from db.models import TaskStatus
from db.tasks.reads import Cursor
from services.errors import InvalidFieldError
from services.pagination import decode_cursor

Model = TypeVar("Model", bound=BaseModel)

DEFAULT_PAGE_SIZE = 50
# Longest payload text the replay form takes (the request body limit applies too).
MAX_PAYLOAD_TEXT = 1_000_000


class Paging(BaseModel):
    """Where a page starts, and how long it is."""

    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)

    def position(self) -> Cursor | None:
        """The cursor, decoded (an InvalidCursorError, a 422, if it is not one of ours)."""
        return None if self.cursor is None else decode_cursor(self.cursor)


class TaskFilters(Paging):
    """The filters of `GET /api/v1/result/`."""

    model_config = ConfigDict(extra="ignore")

    tenant: list[TenantName] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    status: list[TaskStatus] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    name: list[FilterText] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    queue: list[FilterText] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    created_after: Moment | None = None
    created_before: Moment | None = None


class DeadLetterQuery(DeadLetterFilters, Paging):
    """The filters of `GET /api/v1/dead-letter/`."""

    model_config = ConfigDict(extra="ignore")


class BulkSelection(DeadLetterSelection):
    """A bulk replay's or purge's selection (at least one filter, or all), as the API
    reads it, and how many a replay takes at most."""

    limit: int = Field(default=100, ge=1, le=MAX_BULK_REPLAY)


def _fields(model: type[BaseModel]) -> tuple[set[str], set[str]]:
    """The model's list fields, and its other fields."""
    lists = {
        name
        for name, field in model.model_fields.items()
        if getattr(field.annotation, "__origin__", None) is list
    }
    return lists, set(model.model_fields) - lists


def parse(
    model: type[Model], values: QueryParams | FormData, *, ignore: Iterable[str] = ()
) -> Model:
    """The model read from a query string or a form: empty values dropped, repeatable
    fields as lists, the first value of the others; RequestValidationError if it breaks
    a rule."""
    lists, singles = _fields(model)
    skipped = set(ignore)
    data: dict[str, Any] = {}
    for key, value in values.multi_items():
        if key in skipped or not isinstance(value, str) or value.strip() == "":
            continue
        if key in lists:
            data.setdefault(key, []).append(value.strip())
        elif key in singles:
            data.setdefault(key, value.strip())
        else:
            data[key] = value
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False)) from None


def edited_payload(form: FormData) -> dict[str, Any] | None:
    """The payload a replay form asks for: None to replay as it was, else the edited JSON
    object; InvalidFieldError (a 422 naming `payload`) if it is not one."""
    if form.get("with") != "edited":
        return None
    text = form.get("payload")
    if not isinstance(text, str) or not text.strip():
        raise InvalidFieldError(["payload"], "give the payload to replay with, a JSON object")
    if len(text) > MAX_PAYLOAD_TEXT:
        raise InvalidFieldError(
            ["payload"], f"the payload is longer than {MAX_PAYLOAD_TEXT} characters"
        )
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise InvalidFieldError(["payload"], f"the payload is not valid JSON: {error}") from None
    if not isinstance(payload, dict):
        raise InvalidFieldError(["payload"], "the payload must be a JSON object ({…})")
    return payload
