"""Strict, typed parameter sections.

Each stage describes the part of ``params.yaml`` it reads as dataclasses and parses
it with :func:`from_dict`: an unknown key, a missing key or a value of the wrong type
is an error that names the full dotted key (``adapt.advent.lambda_adv_main``), in the
spirit of the official ADVENT config. ``params.yaml`` is loaded where :mod:`advent.cli`
starts a stage or tool; the rest of the library receives parsed sections.
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

from advent.io import missing

T = TypeVar("T")


class ConfigError(ValueError):
    """A parameter is unknown, missing or of the wrong type."""


def _yaml_error_message(path: str | os.PathLike, err: Exception) -> str:
    """``path:line:column: problem`` of a YAML syntax error (PyYAML's or ruamel's), 1-based."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    context, start = getattr(err, "context", None), getattr(err, "context_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    if context and start is not None and start is not mark:  # where the broken part began
        context += f" that starts at line {start.line + 1}, column {start.column + 1}"
    return f"{where}: YAML syntax error: {problem}" + (f" ({context})" if context else "")


class ParamsLoader(yaml.SafeLoader):
    """PyYAML's safe loader that also reads YAML 1.2 floats such as ``1e-3`` and ``5e-05``
    (an exponent without a dot), which YAML 1.1 reads as text. DVC reads and writes
    params.yaml as YAML 1.2: ``dvc exp run -S train.lr_d=5.0e-5`` writes ``5e-05`` back."""


ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def parse_yaml(text: str) -> Any:
    """``text`` read as params.yaml is read (:class:`ParamsLoader`)."""
    return yaml.load(text, Loader=ParamsLoader)


def load_yaml(path: str | os.PathLike) -> dict:
    """The mapping at the top of the YAML file ``path``; a syntax error names the line and
    column, an empty file or one holding a list or a scalar is refused by name."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"parameter file {path} {missing(path, 'file')}")
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(_yaml_error_message(path, err)) from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not a UTF-8 text file (byte {err.start}): "
                          f"not a parameter file") from None
    if data is None:
        raise ConfigError(f"{path}: the parameter file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections, "
                          f"got a {_yaml_kind(data)}")
    return data


def _yaml_kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number",
            bool: "boolean"}.get(type(value), type(value).__name__)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str) -> Any:
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: {value!r} is not one of {list(args)}")
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key)
            except ConfigError:
                pass
        raise ConfigError(f"{key}: {value!r} fits none of {_type_name(tp)}")
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, key)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{key}: expected {len(args)} items, got {len(value)}")
            return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        items = [_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        vt = args[1] if args else Any
        return {k: _convert(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"{key}: unsupported parameter type {tp!r}")


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def from_dict(cls: type[T], data: Any, key: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, strictly. ``key`` names ``data`` in errors
    (empty for the top level of a file)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{key or 'top level'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown parameter {_join(key, unknown[0])} "
                          f"(known in {key or 'the top level'}: {', '.join(sorted(fields))})")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], _join(key, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing parameter {_join(key, name)}")
    obj = cls(**kwargs)
    check = getattr(obj, "validate", None)
    if check is not None:
        try:
            check(key)
        except ConfigError:
            raise
        except ValueError as err:  # validate() may raise plain ValueError
            raise ConfigError(str(err)) from None
    return obj


def to_dict(obj: Any) -> Any:
    """Dataclass -> plain dict (for logging the parameters a run used)."""
    return dataclasses.asdict(obj)


def field_paths(cls: type) -> list[str]:
    """Dotted names of every parameter of dataclass ``cls``, nested sections expanded, in
    declaration order: the keys a complete parameter file names."""
    hints = typing.get_type_hints(cls)
    paths = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            paths += [f"{f.name}.{sub}" for sub in field_paths(tp)]
        else:
            paths.append(f.name)
    return paths


def mapping_paths(data: dict) -> list[str]:
    """Dotted names of the leaves of a nested mapping (a parsed parameter file), in order."""
    paths = []
    for key, value in data.items():
        if isinstance(value, dict):
            paths += [f"{key}.{sub}" for sub in mapping_paths(value)]
        else:
            paths.append(str(key))
    return paths
