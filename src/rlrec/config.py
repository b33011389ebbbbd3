"""Typed configs: YAML files plus `key=value` overrides, validated by pydantic.

Each config model lives beside the code it configures (`rlrec.data.DataConfig`, ...) and derives
from `Config` here; this module holds the loading and override rules. `rlrec.experiment` composes
the stage configs into one experiment config.

Rules:
- unknown keys are errors (`extra="forbid"`), named with their dotted path and the known keys;
- wrong types are errors naming the key, the expected type and the value given;
- overrides are `a.b.c=value`; `value` is parsed as YAML (`3`, `1.5e-3`, `true`, `null`, `[a, b]`);
- the resolved config (file + overrides + defaults) is what a run saves.
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from rlrec.errors import ConfigError

C = TypeVar("C", bound=BaseModel)


class Config(BaseModel):
    """Base for every rlrec config: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `a.b.c=value` into (["a", "b", "c"], parsed value)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {text!r} is not of the form key=value (e.g. seed=3)")
    parts = key.split(".")
    if any(not p for p in parts):
        raise ConfigError(f"override key {key!r} has an empty part")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw  # not YAML: keep the plain string and let validation judge it
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: typing.Iterable[str]) -> dict[str, Any]:
    """Return a copy of `data` with each `key=value` override set (nested dicts created)."""
    out = _deep_copy(data)
    for text in overrides:
        parts, value = parse_override(text)
        node = out
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                prefix = ".".join(parts[: i + 1])
                raise ConfigError(f"override {text!r}: {prefix!r} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at top level")
    return data


def load_config(
    cls: type[C], path: str | Path | None = None, overrides: typing.Iterable[str] = ()
) -> C:
    """Build `cls` from an optional YAML file and `key=value` overrides."""
    data = read_yaml(path) if path is not None else {}
    data = apply_overrides(data, overrides)
    return validate(cls, data, source=str(path) if path else "config")


def validate(cls: type[C], data: dict[str, Any], source: str = "config") -> C:
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise ConfigError(describe_validation_error(cls, err, source)) from None


def to_yaml(cfg: BaseModel) -> str:
    """The resolved config as YAML (paths as strings), loadable again by `load_config`."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


def describe_validation_error(cls: type[BaseModel], err: ValidationError, source: str) -> str:
    """One readable line per problem: the dotted key, what was expected, what was given."""
    lines = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        key = ".".join(loc)
        if e["type"] == "extra_forbidden":
            known = _known_keys(cls, loc[:-1])
            hint = difflib.get_close_matches(loc[-1], known, n=1)
            msg = f"unknown key {key!r}"
            if hint:
                msg += f" (did you mean {'.'.join([*loc[:-1], hint[0]])!r}?)"
            msg += f"; known keys here: {', '.join(sorted(known))}"
        else:
            expected = _expected_type(cls, loc)
            given = e.get("input")
            msg = f"{key!r}: expected {expected}, got {given!r} ({e['msg']})"
        lines.append(msg)
    head = f"invalid {source}: " if len(lines) == 1 else f"invalid {source}:\n  "
    return head + "\n  ".join(lines)


def _field_model(cls: type[BaseModel], loc: list[str]) -> type[BaseModel] | None:
    model: Any = cls
    for part in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _strip_optional(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _known_keys(cls: type[BaseModel], loc: list[str]) -> list[str]:
    model = _field_model(cls, loc)
    return list(model.model_fields) if model else []


def _expected_type(cls: type[BaseModel], loc: list[str]) -> str:
    parent = _field_model(cls, loc[:-1])
    if parent is None or loc[-1] not in parent.model_fields:
        return "a valid value"
    return _type_name(parent.model_fields[loc[-1]].annotation)


def _strip_optional(tp: Any) -> Any:
    args = typing.get_args(tp)
    if _is_union(tp) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return tp


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if _is_union(tp):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(tp))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return getattr(tp, "__name__", str(tp))


def _deep_copy(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in data.items()}
