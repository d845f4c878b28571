"""Each API view declares what it does, once: the scope it needs (enforced here), its query and
body schemas, and its responses. The OpenAPI document (webapp.api.openapi) is built from these
declarations, so what is documented is what runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import request
from marshmallow import Schema

from webapp.api.auth import authenticate_request, require_scope
from webapp.api.problems import ApiError

P = ParamSpec("P")
R = TypeVar("R")

ATTRIBUTE = "api_operation"


@dataclass(frozen=True)
class Operation:
    summary: str
    # The scope the key needs; None: any valid key. `public`: no key at all.
    scope: str | None
    responses: dict[int, type[Schema] | None]  # status -> schema of the body (None: no body)
    description: str = ""
    body: type[Schema] | None = None
    query: type[Schema] | None = None
    public: bool = False
    tags: tuple[str, ...] = field(default_factory=tuple)
    # A file as the body, of these media types, instead of a JSON object.
    file_body: tuple[str, ...] = field(default_factory=tuple)


def operation(
    summary: str,
    *,
    scope: str | None,
    responses: dict[int, type[Schema] | None],
    description: str = "",
    body: type[Schema] | None = None,
    query: type[Schema] | None = None,
    public: bool = False,
    tags: tuple[str, ...] = (),
    file_body: tuple[str, ...] = (),
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Declare a view's contract and check its key and scope before it runs."""
    declared = Operation(
        summary, scope, responses, description, body, query, public, tags, file_body
    )

    def decorator(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            if not declared.public:
                authenticate_request()
                if declared.scope is not None:
                    require_scope(declared.scope)
                if declared.query is None and request.args:
                    raise ApiError(
                        400, "validation_failed", "this operation takes no query arguments",
                        {"fields": {name: ["Unknown field."] for name in request.args}},
                    )
            return view(*args, **kwargs)

        setattr(checked, ATTRIBUTE, declared)
        return checked

    return decorator


def declared_operation(view: Callable[..., Any]) -> Operation | None:
    found = getattr(view, ATTRIBUTE, None)
    return found if isinstance(found, Operation) else None
