"""The answers routes share, as OpenAPI documents them."""

from typing import Any

Responses = dict[int | str, dict[str, Any]]

AUTH: Responses = {
    401: {"description": "No API key, or one that is unknown or revoked."},
    403: {"description": "The key's role does not allow this."},
    429: {"description": "The key is over its request rate; retry after `Retry-After`."},
}
NOT_FOUND: Responses = {404: {"description": "No such task (of this key's tenant)."}}
TOO_MANY: Responses = {
    429: {
        "description": "The key is over its request rate, or its tenant has as many "
        "unfinished tasks as it may; retry after `Retry-After`."
    }
}
