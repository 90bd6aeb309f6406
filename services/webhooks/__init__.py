"""Webhooks: a tenant's endpoints, told of task events by signed, retried HTTP POSTs.

- `targets`: which URLs and addresses a webhook may send to (SSRF).
- `signing`: the Taskgate-Signature header.
- `registry`: making, listing and deleting webhooks; their deliveries.
- `sending`: one attempt at one delivery.
- `sender`: the background job every process runs: claims due deliveries, sends, retries.
- `pruning`: the background job that deletes finished deliveries past their retention.
"""
