"""A study config as users write it, before the schema sees it: YAML read strictly (a key given
twice in one mapping is an error, where PyYAML would keep the last silently), values that
Snakemake's ``--config`` hands over as strings turned into the types the schema asks for where they
parse unambiguously (``seeds=[7]`` arrives as ``['7']``), and non-finite numbers (``.nan``,
``.inf``) rejected with their key.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import yaml

from ..errors import InputError

INTEGER = re.compile(r"[+-]?\d+")
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
BOOLEANS = {"true": True, "false": False}
NULLS = ("null", "~")


class RawConfigError(InputError):
    """A config that cannot be read as written; the message names the file or key."""


def key_path(path) -> str:
    """``a.b[0].c`` for the path ``("a", "b", 0, "c")``."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<root>"


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that gives a key twice (merge keys ``<<`` aside)."""


def _strict_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} is given twice (first on line {seen[key] + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _strict_mapping)


def read_yaml(path: str | Path) -> dict:
    """The mapping in the YAML file ``path``, read strictly; errors name the file (and line)."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(), Loader=_StrictLoader)  # a SafeLoader subclass: no arbitrary objects
    except FileNotFoundError:
        raise RawConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise RawConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if raw is not None and not isinstance(raw, dict):
        raise RawConfigError(f"config file {path}: the config must be a mapping at the top level")
    return raw or {}


def _types(schema: dict) -> list[str]:
    t = schema.get("type", [])
    return [t] if isinstance(t, str) else list(t)


def _parse(text: str, types: list[str]):
    """``text`` as the first of ``types`` it spells unambiguously, else unchanged."""
    lowered = text.strip().lower()
    for t in types:
        if t == "integer" and INTEGER.fullmatch(text.strip()):
            return int(text)
        if t == "number" and (NUMBER.fullmatch(text.strip()) or lowered in ("nan", ".nan", "inf", ".inf", "-inf")):
            return float(lowered.replace(".nan", "nan").replace(".inf", "inf"))
        if t == "boolean" and lowered in BOOLEANS:
            return BOOLEANS[lowered]
        if t == "null" and lowered in NULLS:
            return None
    return text


def coerce(value, schema: dict, root: dict):
    """``value`` with every string the schema wants as a number, boolean or null turned into one
    (where it parses as such), recursively through objects and arrays."""
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    types = _types(schema)
    if isinstance(value, str) and types and "string" not in types:
        return _parse(value, types)
    if isinstance(value, dict):
        props, extra = schema.get("properties", {}), schema.get("additionalProperties")
        out = {}
        for k, v in value.items():
            sub = props.get(k, extra if isinstance(extra, dict) else None)
            out[k] = coerce(v, sub, root) if sub else v
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [coerce(v, schema["items"], root) for v in value]
    return value


def coerce_params(params: dict, defaults: dict) -> dict:
    """A method entry's own parameters (which the schema leaves open) coerced to their defaults'
    types; a granularity that spells a whole number becomes that number of groups."""
    out = dict(params)
    for k, v in params.items():
        if not isinstance(v, str) or k not in defaults:
            continue
        default = defaults[k]
        if k == "granularity" and INTEGER.fullmatch(v.strip()):
            out[k] = int(v)
        elif isinstance(default, bool):
            out[k] = _parse(v, ["boolean"])
        elif isinstance(default, int):
            out[k] = _parse(v, ["integer"])
        elif isinstance(default, float):
            out[k] = _parse(v, ["number"])
    return out


def non_finite(value, path=()) -> list[str]:
    """The keys of every NaN or infinite number in ``value``."""
    if isinstance(value, float) and not math.isfinite(value):
        return [key_path(path)]
    if isinstance(value, dict):
        return [k for name, v in value.items() for k in non_finite(v, (*path, name))]
    if isinstance(value, list):
        return [k for i, v in enumerate(value) for k in non_finite(v, (*path, i))]
    return []
