"""One declaration per setting, and what follows from it: schema, checks, conversions, docs.

A setting is one field of :class:`tap_atlassian.config.Settings` made with :func:`setting`:
its name is the field's name, its type the field's annotation (``str``, ``int``, ``float``,
``bool``, ``tuple[str, ...]``, ``dt.datetime``), its default the field's default. From those
fields :func:`json_schema` builds the config schema (``--about``, the README's settings
table, the SDK's own check), :func:`first_error` checks a raw config against it in one
pass, and :func:`read` turns a raw value into the typed one.

Messages are one line naming the setting and what was expected; a secret's value is never
shown.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import typing as t
from urllib.parse import urlsplit

from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError


class ConfigError(ConfigValidationError):
    """A missing, malformed or contradictory setting; the message is one line."""

    def __init__(self, message: str) -> None:
        """Keep the one-line message as the only error (the SDK's CLI logs each one)."""
        super().__init__(message, errors=[message])


@dataclasses.dataclass(frozen=True)
class Spec:
    """What a setting's field says beyond its name, annotation and default."""

    description: str
    required: bool = False
    secret: bool = False
    allowed: tuple[str, ...] = ()  # its values (of each item, for a list)
    bounds: tuple[float, float] | None = None  # inclusive range of a number
    kind: str | None = None  # "url": an http(s) URL, kept without its trailing slash
    schema: dict[str, t.Any] | None = None  # a JSON type no annotation says (object or text)
    convert: t.Callable[[t.Any], t.Any] | None = None  # the setting's own reading, after the checks
    label: str = ""  # its name in Meltano's UI (meltano.yml is generated from the declaration)
    option_labels: t.Mapping[str, str] = dataclasses.field(default_factory=dict)  # value -> label


def setting(  # noqa: PLR0913  (one keyword per fact a setting may state)
    description: str,
    default: t.Any = dataclasses.MISSING,  # noqa: ANN401
    *,
    required: bool = False,
    secret: bool = False,
    allowed: t.Iterable[str] = (),
    bounds: tuple[float, float] | None = None,
    kind: str | None = None,
    schema: dict[str, t.Any] | None = None,
    convert: t.Callable[[t.Any], t.Any] | None = None,
    default_factory: t.Callable[[], t.Any] | None = None,
    label: str = "",
    option_labels: t.Mapping[str, str] | None = None,
) -> t.Any:  # noqa: ANN401  (a dataclass field, typed by the annotation it is assigned to)
    """Declare one setting as a dataclass field."""
    spec = Spec(
        description,
        required,
        secret,
        tuple(allowed),
        bounds,
        kind,
        schema,
        convert,
        label,
        option_labels or {},
    )
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata={"spec": spec})
    return dataclasses.field(default=default, metadata={"spec": spec})


class Declared(t.NamedTuple):
    """One declared setting: its field, its spec and its Python type."""

    name: str
    spec: Spec
    type: t.Any
    default: t.Any


def declared(cls: type) -> list[Declared]:
    """The settings a dataclass declares, in declaration order (fields without a spec are not settings)."""
    hints = t.get_type_hints(cls)
    return [
        Declared(f.name, f.metadata["spec"], _bare(hints[f.name]), f.default)
        for f in dataclasses.fields(cls)
        if "spec" in f.metadata
    ]


def _bare(annotation: t.Any) -> t.Any:  # noqa: ANN401
    """``X | None`` -> ``X``."""
    args = [a for a in t.get_args(annotation) if a is not type(None)]
    return args[0] if type(None) in t.get_args(annotation) and len(args) == 1 else annotation


_SCALARS: dict[t.Any, type[th.JSONTypeHelper]] = {
    str: th.StringType,
    int: th.IntegerType,
    float: th.NumberType,
    bool: th.BooleanType,
    dt.datetime: th.DateTimeType,
}


def _json_type(item: Declared) -> th.JSONTypeHelper:
    spec = item.spec
    if spec.schema is not None:
        return th.CustomType(spec.schema)
    if _is_list(item):
        return th.ArrayType(th.StringType(allowed_values=list(spec.allowed) or None))
    kind = _SCALARS[item.type]
    if spec.bounds:
        low, high = spec.bounds
        return kind(minimum=low, maximum=high)  # type: ignore[call-arg]
    return kind()


def json_schema(cls: type) -> dict[str, t.Any]:
    """The config JSON schema of every setting ``cls`` declares."""
    properties = []
    for item in declared(cls):
        spec = item.spec
        scalar = isinstance(item.default, (str, int, float))
        properties.append(
            th.Property(
                item.name,
                _json_type(item),
                required=spec.required,
                # a list's or object's default (empty: all) is said in its description
                default=item.default if scalar else None,
                description=spec.description,
                secret=spec.secret or None,
                allowed_values=list(spec.allowed) if spec.allowed and not _is_list(item) else None,
            )
        )
    schema = th.PropertiesList(*properties).to_dict()
    for item in declared(cls):
        if item.spec.schema is not None:
            # as declared: the SDK marks an optional anyOf with a bare "null", which is no schema
            # (a validator given such a value fails on it instead of answering)
            schema["properties"][item.name].update(item.spec.schema)
    return schema


def _is_list(item: Declared) -> bool:
    return t.get_origin(item.type) is tuple


def first_error(schema: dict[str, t.Any], config: t.Mapping[str, t.Any]) -> str | None:
    """The first type, value or range error of ``config`` (in the schema's order), as one line.

    Unset values (None) pass; an empty text where values are listed means unset. Required
    settings are checked by the caller, after empty texts are dropped.
    """
    props = schema["properties"]
    order = {name: i for i, name in enumerate(props)}
    given = {k: v for k, v in config.items() if v is not None}
    found = []
    # the validator the SDK checks the config with (jsonschema's), here for our one-line messages
    for error in th.DEFAULT_JSONSCHEMA_VALIDATOR({"properties": props}).iter_errors(given):
        name = str(error.path[0])
        message = _message(name, props[name], error)
        if message:
            found.append((order[name], _rank(error), message))
    return min(found)[2] if found else None


# Per setting, a wrong type is said before a wrong value, a wrong value before a range; in
# a list, the item that is not one of the values is named.
_RANKS = {"type": 0, "anyOf": 0, "enum": 1, "minimum": 2, "maximum": 2}


def _rank(error: t.Any) -> int:  # noqa: ANN401  (a jsonschema.ValidationError)
    if len(error.path) > 1:
        return 0 if error.validator == "enum" else 1
    return _RANKS.get(str(error.validator), 3)


def _message(name: str, prop: dict[str, t.Any], error: t.Any) -> str | None:  # noqa: ANN401
    value = error.instance
    if error.validator == "enum":
        if value == "" and len(error.path) == 1:
            return None  # empty text: unset
        shown = "" if prop.get("writeOnly") else f"{value!r} "
        return f"{name}: {shown}is not one of {', '.join(map(str, t.cast('list', error.validator_value)))}"
    if error.validator in {"minimum", "maximum"}:
        number = float(value) if "number" in prop["type"] else value
        return f"{name}: {number} is outside {prop['minimum']}..{prop['maximum']}"
    if len(error.path) > 1:
        return f"{name}: expected array of {_expected(prop['items'])}"
    return f"{name}: expected {_expected(prop)}"


def _expected(prop: dict[str, t.Any]) -> str:
    kinds = prop.get("type")
    if not kinds:
        return "string or object"
    return kinds if isinstance(kinds, str) else kinds[0]


def read(item: Declared, value: t.Any) -> t.Any:  # noqa: ANN401
    """A checked raw value as the typed setting (URLs, numbers, lists, date-times)."""
    if item.spec.kind == "url":
        value = _url(item.name, value)
    elif item.type is float:
        value = float(value)
    elif _is_list(item):
        value = tuple(value)
    elif item.type is dt.datetime:
        value = _datetime(item.name, value)
    return item.spec.convert(value) if item.spec.convert else value


def _url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        msg = f"{name}: expected an http(s) URL such as https://example.atlassian.net"
        raise ConfigError(msg)
    return value.rstrip("/")


def _datetime(name: str, value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        msg = f"{name}: not an ISO 8601 date-time (for example 2024-01-31T00:00:00Z)"
        raise ConfigError(msg) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


def numbers_from_text(schema: dict[str, t.Any], config: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """``number`` settings given as text (``TAP_ATLASSIAN_REQUEST_TIMEOUT=60``: the SDK's
    environment parser converts integers and booleans but leaves numbers as strings).
    """
    out = dict(config)
    for name, prop in schema["properties"].items():
        value = out.get(name)
        if isinstance(value, str) and "number" in (prop.get("type") or []):
            with contextlib.suppress(ValueError):  # the type check names the setting
                out[name] = float(value)
    return out
