"""What became of each line of a submitted file, and the summary of them all."""

from dataclasses import asdict, dataclass, field
from typing import Any

from rich.text import Text

from cli.output import print_json, say, show, table

ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"


@dataclass(frozen=True)
class Outcome:
    """One line's: accepted (a new task), a duplicate (its key's earlier task), rejected."""

    line: int
    outcome: str
    id: str | None = None
    reason: str | None = None


@dataclass
class Report:
    """The outcome of every line settled so far."""

    outcomes: list[Outcome] = field(default_factory=list)

    def accepted(self, line: int, task_id: str) -> None:
        self.outcomes.append(Outcome(line, ACCEPTED, id=task_id))

    def duplicate(self, line: int, task_id: str, reason: str) -> None:
        self.outcomes.append(Outcome(line, DUPLICATE, id=task_id, reason=reason))

    def rejected(self, line: int, reason: str) -> None:
        self.outcomes.append(Outcome(line, REJECTED, reason=reason))

    def count(self, outcome: str) -> int:
        return sum(1 for item in self.outcomes if item.outcome == outcome)

    def counts(self) -> str:
        """`accepted 3, duplicates 1, rejected 2`."""
        return (
            f"accepted {self.count(ACCEPTED)}, duplicates {self.count(DUPLICATE)}, "
            f"rejected {self.count(REJECTED)}"
        )

    def document(self) -> dict[str, Any]:
        """The summary as one JSON document: the counts, then every line in order."""
        lines = sorted(self.outcomes, key=lambda item: item.line)
        return {
            "accepted": self.count(ACCEPTED),
            "duplicates": self.count(DUPLICATE),
            "rejected": self.count(REJECTED),
            "lines": [
                {key: value for key, value in asdict(item).items() if value is not None}
                for item in lines
            ],
        }

    def print(self, *, as_json: bool) -> None:
        """The summary: JSON, or the counts and a table of the lines not accepted."""
        if as_json:
            print_json(self.document())
            return
        say(self.counts())
        others = sorted(
            (item for item in self.outcomes if item.outcome != ACCEPTED),
            key=lambda item: item.line,
        )
        if others:
            shown = table("line", "outcome", "why")
            for item in others:
                shown.add_row(str(item.line), item.outcome, Text(item.reason or ""))
            show(shown)
