"""HTTP bodies of a named queue's controls."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.schemas import STRICT_BODY, json_int
from services.queue_controls import QueueControls

# Far beyond any fleet: only keeps absurd values out.
MAX_CONCURRENCY = 1_000_000
MAX_RATE = 1_000_000.0

PAUSED = "A paused queue still accepts tasks; they wait (held) until it is resumed."
CONCURRENCY = "Tasks of the queue running at once across every worker; null: no limit."
KEY_CONCURRENCY = (
    "Tasks of one concurrency_key running at once across every worker; null: no limit. Keys "
    "share the queue fairly: one key's backlog never starves another's."
)
RATE = "Task starts per second across every worker (a bucket of one second's); null: none."


class QueueControlsPatch(BaseModel):
    """The controls to change; a field left out keeps its value, null turns a limit off."""

    model_config = ConfigDict(
        **STRICT_BODY,
        # At least one control: an empty change is a 422 (`something_to_change`).
        json_schema_extra={
            "examples": [{"paused": True}, {"key_concurrency_limit": 2}],
            "minProperties": 1,
        },
    )

    # Applied only when given (see `changes`): left out, the queue stays as it is.
    paused: bool = Field(default=False, description=PAUSED)
    concurrency_limit: json_int(1, MAX_CONCURRENCY) | None = Field(  # type: ignore[valid-type]
        default=None, description=CONCURRENCY
    )
    key_concurrency_limit: json_int(1, MAX_CONCURRENCY) | None = Field(  # type: ignore[valid-type]
        default=None, description=KEY_CONCURRENCY
    )
    rate_limit_per_second: float | None = Field(
        default=None, gt=0, le=MAX_RATE, allow_inf_nan=False, description=RATE
    )

    @model_validator(mode="after")
    def something_to_change(self) -> "QueueControlsPatch":
        if not self.model_fields_set:
            raise ValueError(
                "nothing to change: give paused, concurrency_limit, key_concurrency_limit "
                "or rate_limit_per_second"
            )
        return self

    def changes(self) -> dict[str, Any]:
        """The fields given, by name."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class QueueControlsOut(BaseModel):
    """A named queue's controls for one tenant, and that tenant's tasks in it now."""

    name: str
    tenant: str
    paused: bool = Field(description=PAUSED)
    concurrency_limit: int | None = Field(description=CONCURRENCY)
    key_concurrency_limit: int | None = Field(description=KEY_CONCURRENCY)
    rate_limit_per_second: float | None = Field(description=RATE)
    updated_at: datetime | None = Field(description="When a control last changed (null: never).")
    running: int = Field(description="Tasks running now.")
    waiting: int = Field(description="Tasks sent to the workers, not yet started.")
    held: dict[str, int] = Field(
        description="Tasks a control holds back (no message sent), by control: paused, "
        "concurrency_limit, key_concurrency_limit, rate_limit_per_second."
    )

    @classmethod
    def of(cls, controls: QueueControls) -> "QueueControlsOut":
        return cls(**vars(controls))
