"""botocore's own SES v2 model: request routing and input validation.

Reading the model that boto3 serializes from keeps the simulator honest: a path, a member name or
a constraint the real service would reject cannot drift apart from what the client sends.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import botocore.session
from botocore.model import (
    ListShape,
    MapShape,
    OperationModel,
    ServiceModel,
    Shape,
    StringShape,
    StructureShape,
)

SUPPORTED_OPERATIONS = ("GetAccount", "SendEmail", "SendBulkEmail")


@lru_cache(maxsize=1)
def service_model() -> ServiceModel:
    """The sesv2 model bundled with the installed botocore (loaded once per process)."""
    return botocore.session.get_session().get_service_model("sesv2")


def operation(name: str) -> OperationModel:
    return service_model().operation_model(name)


def input_shape(name: str) -> StructureShape:
    shape = operation(name).input_shape
    if shape is None:
        raise ValueError(f"{name} takes no input")
    return shape


def output_shape(name: str) -> StructureShape:
    shape = operation(name).output_shape
    if not isinstance(shape, StructureShape):
        raise ValueError(f"{name} returns nothing")
    return shape


@dataclass(frozen=True)
class Route:
    operation: str
    method: str
    pattern: re.Pattern[str]
    literal_parts: int  # more literal path wins over a placeholder: /identity/certificates


def _compile(uri: str) -> re.Pattern[str]:
    path = uri.split("?", 1)[0]
    regex = ""
    for piece in re.split(r"(\{[^}]+\})", path):
        if piece.startswith("{"):
            regex += "(.+)" if piece.endswith("+}") else "([^/]+)"
        else:
            regex += re.escape(piece)
    return re.compile(f"^{regex}/?$")


@lru_cache(maxsize=1)
def routes() -> tuple[Route, ...]:
    """Every sesv2 operation's (method, requestUri), most literal first."""
    model = service_model()
    table = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri = http["requestUri"]
        literal = len(re.sub(r"\{[^}]+\}", "", uri))
        table.append(Route(name, http["method"], _compile(uri), literal))
    return tuple(sorted(table, key=lambda r: -r.literal_parts))


def route(method: str, path: str) -> str | None:
    """The operation botocore would have called with this method and path, if any."""
    for candidate in routes():
        if candidate.method == method and candidate.pattern.match(path):
            return candidate.operation
    return None


def validate(shape: Shape, value: object, path: str = "") -> list[str]:
    """Every way `value` breaks `shape`: required members, types, enums, lengths, patterns.

    Patterns are searched, not fully matched, as Smithy defines them (ECMA-262, unanchored).
    Members the model does not know are ignored, as the service does with newer clients.
    """
    where = path or shape.name
    kind = shape.type_name
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            return [_bad(where, "Member must be an object")]
        errors = [
            f"Value null at '{_join(path, name)}' failed to satisfy constraint: "
            "Member must not be null"
            for name in shape.required_members
            if value.get(name) is None
        ]
        for name, member in shape.members.items():
            if value.get(name) is not None:
                errors += validate(member, value[name], _join(path, name))
        return errors
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            return [_bad(where, "Member must be a list")]
        errors = _length(shape, len(value), where)
        for index, item in enumerate(value):
            errors += validate(shape.member, item, f"{where}[{index}]")
        return errors
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            return [_bad(where, "Member must be a map")]
        errors = _length(shape, len(value), where)
        for key, item in value.items():
            errors += validate(shape.key, key, f"{where}.key")
            errors += validate(shape.value, item, f"{where}[{key}]")
        return errors
    return _scalar(shape, kind, value, where)


Check = Callable[[object], bool]


@lru_cache(maxsize=8)
def conforms(operation_name: str) -> Check:
    """validate()'s verdict for an operation's input, compiled once: yes or no, no messages.

    A request that passes is served without validate()'s walk, which builds a path string for
    every member of every bulk entry (40% of the simulator's CPU per call once rendering was
    lazy); one that fails gets validate()'s full list of errors.
    """
    compiled: dict[str, Check] = {}
    building: set[str] = set()

    def check(shape: Shape) -> Check:
        name = shape.name  # unique in one model
        if name in compiled:
            return compiled[name]
        if name in building:  # a shape that contains itself: look it up when called
            return lambda value: compiled[name](value)
        building.add(name)
        compiled[name] = _checker(shape, check)
        return compiled[name]

    return check(input_shape(operation_name))


def _checker(shape: Shape, check: Callable[[Shape], Check]) -> Check:
    if isinstance(shape, StructureShape):
        required = tuple(shape.required_members)
        members = {name: check(member) for name, member in shape.members.items()}

        def structure(value: object) -> bool:
            if not isinstance(value, dict):
                return False
            for name in required:
                if value.get(name) is None:
                    return False
            for name, item in value.items():  # members the model does not know are ignored
                member = members.get(name)
                if member is not None and item is not None and not member(item):
                    return False
            return True

        return structure
    low, high = shape.metadata.get("min"), shape.metadata.get("max")

    def size_ok(size: float) -> bool:
        return (low is None or size >= low) and (high is None or size <= high)

    if isinstance(shape, ListShape):
        item = check(shape.member)
        if item is _is_string and low is None and high is None:
            return lambda value: isinstance(value, list) and all(type(v) is str for v in value)

        def items(value: object) -> bool:
            return isinstance(value, list) and size_ok(len(value)) and all(map(item, value))

        return items
    if isinstance(shape, MapShape):
        key, item = check(shape.key), check(shape.value)
        return lambda value: (
            isinstance(value, dict)
            and size_ok(len(value))
            and all(key(k) and item(v) for k, v in value.items())
        )
    if shape.type_name == "string":
        enum = frozenset(shape.enum if isinstance(shape, StringShape) else ())
        pattern = shape.metadata.get("pattern")
        if not enum and not pattern and low is None and high is None:
            return _is_string
        search = re.compile(pattern).search if pattern else None
        return lambda value: (
            isinstance(value, str)
            and (not enum or value in enum)
            and size_ok(len(value))
            and (search is None or search(value) is not None)
        )
    return lambda value: not _scalar(shape, shape.type_name, value, "")  # few, and cheap


def _is_string(value: object) -> bool:
    return isinstance(value, str)


def _scalar(shape: Shape, kind: str, value: object, where: str) -> list[str]:
    if kind == "string":
        if not isinstance(value, str):
            return [_bad(where, "Member must be a string")]
        enum = shape.enum if isinstance(shape, StringShape) else []
        if enum and value not in enum:
            return [_bad(where, f"Member must satisfy enum value set: [{', '.join(enum)}]")]
        errors = _length(shape, len(value), where)
        pattern = shape.metadata.get("pattern")
        if pattern and not re.search(pattern, value):
            errors.append(_bad(where, f"Member must satisfy regular expression pattern: {pattern}"))
        return errors
    if kind == "blob":
        try:
            if not isinstance(value, str):
                raise TypeError
            base64.b64decode(value, validate=True)
        except (TypeError, binascii.Error):
            return [_bad(where, "Member must be base64-encoded binary data")]
        return []
    if kind == "boolean":
        return [] if isinstance(value, bool) else [_bad(where, "Member must be a boolean")]
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return [_bad(where, "Member must be an integer")]
        return _range(shape, value, where)
    if kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return [_bad(where, "Member must be a number")]
        return _range(shape, value, where)
    if kind == "timestamp":
        ok = isinstance(value, (int, float, str)) and not isinstance(value, bool)
        return [] if ok else [_bad(where, "Member must be a timestamp")]
    return []


def _length(shape: Shape, size: int, where: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        return [_bad(where, f"Member must have length greater than or equal to {low}")]
    if high is not None and size > high:
        return [_bad(where, f"Member must have length less than or equal to {high}")]
    return []


def _range(shape: Shape, number: float, where: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and number < low:
        return [_bad(where, f"Member must have value greater than or equal to {low}")]
    if high is not None and number > high:
        return [_bad(where, f"Member must have value less than or equal to {high}")]
    return []


def _bad(where: str, constraint: str) -> str:
    return f"Value at '{where}' failed to satisfy constraint: {constraint}"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def validation_message(errors: list[str]) -> str:
    """AWS's wording: `2 validation errors detected: …; …`."""
    noun = "error" if len(errors) == 1 else "errors"
    return f"{len(errors)} validation {noun} detected: " + "; ".join(errors)
