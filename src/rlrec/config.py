"""Typed configs: YAML files plus `key=value` overrides, validated by pydantic.

Each config model lives beside the code it configures (`rlrec.data.DataConfig`, ...) and derives
from `Config` here; this module holds the loading and override rules. `rlrec.experiment` composes
the stage configs into one experiment config.

Rules:
- unknown keys are errors (`extra="forbid"`), named with their dotted path and the known keys;
- wrong types are errors naming the key, the expected type and the value given;
- overrides are `a.b.c=value`; `value` is parsed as YAML (`3`, `1.5e-3`, `true`, `null`, `[a, b]`);
- numbers must be finite (`.inf` and `.nan` are errors);
- YAML aliases may not expand a document beyond `MAX_YAML_NODES` nodes (a "billion laughs" file
  is refused before it is built), and error messages cut every value they echo to `MAX_ECHO`
  characters;
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

MAX_YAML_NODES = 100_000  # a config has hundreds; alias bombs expand to billions
MAX_ECHO = 200  # characters of a value quoted back in an error message


class Config(BaseModel):
    """Base for every rlrec config: unknown keys are errors, assignments are validated, numbers
    are finite."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


def clip(text: str, limit: int = MAX_ECHO) -> str:
    """`text` cut to `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def load_yaml_text(text: str, source: str) -> Any:
    """`yaml.safe_load` of `text`, refusing documents whose aliases expand beyond
    `MAX_YAML_NODES` nodes or nest too deeply (ConfigError naming `source`)."""
    try:
        return _bounded_load(text, source)
    except yaml.YAMLError as err:
        raise ConfigError(f"{source} is not valid YAML ({_yaml_problem(err)})") from None


def _yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's multi-line report as one line: `line 3, column 7: expected ',' or ']'`."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return clip(where + " ".join(str(problem).split()))


def _bounded_load(text: str, source: str) -> Any:
    """Compose the node graph (aliases are shared nodes there, so it stays small), measure its
    expansion, and only then build the Python objects. yaml.YAMLError on bad syntax."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}, set()) > MAX_YAML_NODES:
            raise ConfigError(
                f"{source}: YAML expands to more than {MAX_YAML_NODES:,} values "
                "(nested aliases?); refused"
            )
        return loader.construct_document(node)
    except RecursionError:
        raise ConfigError(f"{source}: YAML nested too deeply; refused") from None
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node, memo: dict[int, int], open_: set[int]) -> int:
    """Nodes of `node` once every alias is expanded (each shared node counted per use)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in open_:
        raise ConfigError("YAML holds a recursive alias; refused")
    open_.add(key)
    size = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            size += _expanded_size(child, memo, open_)
            if size > MAX_YAML_NODES:
                break
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            size += _expanded_size(k, memo, open_) + _expanded_size(v, memo, open_)
            if size > MAX_YAML_NODES:
                break
    open_.discard(key)
    memo[key] = size
    return size


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `a.b.c=value` into (["a", "b", "c"], parsed value)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {clip(repr(text))} is not of the form key=value (e.g. seed=3)")
    parts = key.split(".")
    if any(not p for p in parts):
        raise ConfigError(f"override key {clip(repr(key))} has an empty part")
    try:
        value = _bounded_load(raw, f"override {clip(repr(key))}") if raw.strip() else ""
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
                raise ConfigError(
                    f"override {clip(repr(text))}: {prefix!r} is a value, not a section"
                )
            node = child
        node[parts[-1]] = value
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM from a Windows editor is fine
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read config file {path}: {clip(str(err))}") from None
    data = load_yaml_text(text, f"config file {path}")
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
    errors = err.errors()
    for e in errors[:20]:
        loc = [str(p) for p in e["loc"]]
        key = ".".join(loc)
        if not loc:  # a check of the whole section (a model validator)
            lines.append(clip(e["msg"].removeprefix("Value error, ")))
            continue
        if e["type"] == "extra_forbidden":
            known = _known_keys(cls, loc[:-1])
            hint = difflib.get_close_matches(loc[-1], known, n=1)
            msg = f"unknown key {clip(repr(key))}"
            if hint:
                msg += f" (did you mean {'.'.join([*loc[:-1], hint[0]])!r}?)"
            msg += f"; known keys here: {', '.join(sorted(known))}"
        else:
            expected = _expected_type(cls, loc)
            given = clip(repr(e.get("input")))
            msg = f"{clip(repr(key))}: expected {expected}, got {given} ({clip(e['msg'])})"
        lines.append(msg)
    if len(errors) > 20:
        lines.append(f"... and {len(errors) - 20} more problems")
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
