"""The rules both sides share: accepting, cancelling, replaying and purging tasks, the
dead-letter record, the outbox and its relay, retention, and the task handlers. Nothing here
knows HTTP or consumes messages; the API and the workers call it."""
