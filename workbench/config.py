"""Typed experiment configs: YAML / TOML files, ``--set a.b.c=value`` overrides, validation errors that
name the field and the allowed values, and a resolved dump written into every run folder.

Every experiment subclasses :class:`ExperimentConfig` with its own sections and registers itself with
:func:`workbench.experiments.register_experiment`; :func:`load_config` finds the class from the file's
``experiment`` field.

Example:
    >>> from pydantic import BaseModel, ConfigDict
    >>> class Attack(BaseModel):
    ...     model_config = ConfigDict(extra="forbid")
    ...     steps: int = 10
    >>> class MyConfig(ExperimentConfig):
    ...     attack: Attack = Attack()
    >>> cfg = MyConfig(experiment="mine", attack={"steps": 3})
    >>> dump_config(cfg)["attack"]
    {'steps': 3}
"""

from __future__ import annotations

import copy
import math
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from workbench.plugins import load_plugins
from workbench.registry import Registry

__all__ = [
    "MAX_SEED",
    "ConfigError",
    "ConfigSection",
    "ExperimentConfig",
    "RuntimeConfig",
    "apply_overrides",
    "dump_config",
    "load_config",
    "parse_override",
    "read_config_file",
    "validate_config",
]


# experiment name -> its config class, filled by workbench.experiments.register_experiment (or declared
# lazily by a plugin with workbench.experiments.declare_experiment)
EXPERIMENT_CONFIGS: Registry[type[ExperimentConfig]] = Registry("experiment")


class ConfigError(ValueError):
    """A config file, an override or a field value is wrong; the message names the dotted field."""


MAX_SEED = 2**63 - 1
"""The largest run seed (seeds are 63-bit: ``0 .. 2**63 - 1``)."""


class ConfigSection(BaseModel):
    """The base of config sections: unknown fields and non-finite numbers are refused.

    ``inf`` / ``nan`` are refused in this model's float fields and, after validation, anywhere below it
    (nested sections, lists and mappings), so a whole experiment config is checked even where a nested
    section is a plain ``BaseModel``.

    Example:
        >>> class Guidance(ConfigSection):
        ...     scale: float = 5.0
        >>> from pydantic import ValidationError
        >>> try:
        ...     Guidance(scale=float("inf"))
        ... except ValidationError as exc:
        ...     print(exc.errors()[0]["msg"])
        Input should be a finite number
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="after")
    def _refuse_non_finite(self) -> ConfigSection:
        for path, value in _non_finite_values(self):
            raise PydanticCustomError(
                "non_finite",
                "{path} is {value}; numbers must be finite (inf and nan are refused)",
                {"path": path, "value": value},
            )
        return self


def _non_finite_values(node: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """``(dotted path, value)`` of every non-finite float below a validated model, list or mapping."""
    if isinstance(node, float):
        if not math.isfinite(node):
            yield path or "(value)", node
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _non_finite_values(getattr(node, name, None), f"{path}.{name}" if path else name)
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _non_finite_values(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from _non_finite_values(value, f"{path}.{index}" if path else str(index))


class RuntimeConfig(ConfigSection):
    """Device and precision of a run (see :class:`workbench.runtime.Runtime`)."""

    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    device: str | None = Field(default=None, description="None lets accelerate choose; 'cpu' forces the CPU")
    deterministic: bool = True
    autocast: Literal["bf16", "fp16"] | None = Field(
        default=None,
        description="None: off; 'bf16' (or 'fp16' on CUDA): fp32 weights, the generation loops' "
        "matrix products in that type (torch.autocast); see benchmarks/bench_autocast.py",
    )


class ExperimentConfig(ConfigSection):
    """The fields every experiment has; subclasses add their own sections.

    Args:
        experiment: the registered experiment name (``workbench run`` dispatches on it).
        seed: the run seed (``0 .. 2**63 - 1``); every random draw is derived from it.
        name: a label for the run folder (defaults to the experiment name).
        output_dir: where run folders are created.
        runtime: device and precision.
    """

    experiment: str
    seed: int = Field(0, ge=0, le=MAX_SEED)
    name: str | None = None
    output_dir: str = "runs"
    runtime: RuntimeConfig = RuntimeConfig()


# ---------------------------------------------------------------------------------------------- files
def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (``.yaml`` / ``.yml``) or TOML (``.toml``) config into a dict."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(
            f"config file {str(path)!r} is a folder; pass a .yaml or .toml file "
            "(or `workbench run --resume FOLDER` to continue the run in a run folder)"
        )
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {exc.strerror}") from None
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        elif suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - python 3.10
                import tomli as tomllib
            data = tomllib.loads(text)
        else:
            raise ConfigError(
                f"config file {str(path)!r}: unsupported extension {suffix!r}; use .yaml, .yml or .toml"
            )
    except (yaml.YAMLError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"config file {str(path)!r} could not be parsed: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {str(path)!r} must hold a mapping at the top level, got {type(data).__name__}"
        )
    return data


# ---------------------------------------------------------------------------------------------- overrides
def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``"a.b.c=value"`` into ``(["a", "b", "c"], value)``; the value is parsed as YAML
    (``200`` -> int, ``[1, 2]`` -> list, ``null`` -> None, ``fp16`` -> str)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.path=value (e.g. --set attack.steps=200)")
    key, raw = text.split("=", 1)
    parts = [p.strip() for p in key.strip().split(".")]
    if not key.strip() or any(not p for p in parts):
        raise ConfigError(f"override {text!r} has an empty key part; use key.path=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: the value is not valid YAML ({exc})") from exc
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: typing.Iterable[str]) -> dict[str, Any]:
    """A copy of ``data`` with each ``key.path=value`` override applied (missing sections are created,
    list items are addressed by index: ``prompts.0=...``)."""
    data = copy.deepcopy(data)
    for text in overrides:
        parts, value = parse_override(text)
        node: Any = data
        for depth, part in enumerate(parts[:-1]):
            where = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                node = node[_list_index(node, part, where, text)]
            elif isinstance(node, dict):
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
            else:
                raise ConfigError(f"override {text!r}: {where!r} is a {type(node).__name__}, not a section")
            if not isinstance(node, (dict, list)):
                raise ConfigError(f"override {text!r}: {where!r} is a value ({node!r}), not a section")
        last = parts[-1]
        if isinstance(node, list):
            node[_list_index(node, last, ".".join(parts), text)] = value
        else:
            node[last] = value
    return data


def _list_index(node: list, part: str, where: str, text: str) -> int:
    try:
        index = int(part)
        node[index]
    except (ValueError, IndexError):
        raise ConfigError(
            f"override {text!r}: {where!r} indexes a list of {len(node)} items; use an index 0..{len(node) - 1}"
        ) from None
    return index


# ---------------------------------------------------------------------------------------------- validation
def validate_config(
    data: dict[str, Any], config_class: type[ExperimentConfig] | None = None
) -> ExperimentConfig:
    """Validate ``data`` against its experiment's config class (looked up from ``data["experiment"]``
    unless ``config_class`` is given); raise :class:`ConfigError` naming each wrong field."""
    if config_class is None:
        name = data.get("experiment")
        if not name:
            raise ConfigError(
                "experiment: missing; the config must name its experiment (e.g. experiment: smoke)"
            )
        load_plugins()
        if name not in EXPERIMENT_CONFIGS:
            known = ", ".join(EXPERIMENT_CONFIGS.names()) or "(none)"
            raise ConfigError(f"experiment: unknown experiment {name!r}; allowed values: {known}")
        config_class = EXPERIMENT_CONFIGS.get(name)
    try:
        return config_class.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, config_class)) from None


def format_validation_error(exc: ValidationError, config_class: type[BaseModel]) -> str:
    """The problems of ``exc``, each naming its dotted field: ``attack.steps: Input should be a valid
    integer (got 'many')``, with the allowed field names for unknown fields.

    One problem gives one line (``invalid MyConfig: attack.steps: ...``); several give a header line and
    one indented line per problem.
    """
    problems = [_format_problem(err, config_class) for err in exc.errors()]
    if len(problems) == 1:
        return f"invalid {config_class.__name__}: {problems[0]}"
    header = f"invalid {config_class.__name__} ({len(problems)} problems):"
    return "\n".join([header, *(f"  {p}" for p in problems)])


def _format_problem(err: Any, config_class: type[BaseModel]) -> str:
    """One problem of a ``ValidationError`` as ``field: message (got value)``."""
    loc = [str(p) for p in err["loc"]]
    field = ".".join(loc)
    if err["type"] == "extra_forbidden":
        owner = _model_at(config_class, err["loc"][:-1])
        allowed = ", ".join(owner.model_fields) if owner is not None else "?"
        section = ".".join(loc[:-1]) or "the top level"
        return f"{field}: unknown field; allowed fields of {section}: {allowed}"
    if err["type"] == "non_finite":
        path = err["ctx"]["path"]
        return f"{field + '.' if field else ''}{path}: {err['ctx']['value']} is not a finite number; give a finite value"
    message = err["msg"].removeprefix("Value error, ")
    if "input" in err and err["type"] != "missing":
        message += f" (got {_short_repr(err['input'])})"
    return f"{field or '(top level)'}: {message}"


def _short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters (a huge prompt is not echoed whole)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]} ({len(text)} characters)"


def _model_at(cls: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class that the (validated) location ``loc`` points into."""
    current: Any = cls
    for part in loc:
        current = _unwrap_model(current)
        if current is None:
            return None
        if isinstance(part, int) or part not in getattr(current, "model_fields", {}):
            continue  # list index or union tag: stay on the item type
        current = current.model_fields[part].annotation
    return _unwrap_model(current)


def _unwrap_model(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in typing.get_args(tp):
        found = _unwrap_model(arg)
        if found is not None:
            return found
    return None


# ---------------------------------------------------------------------------------------------- entry points
def load_config(
    path: str | Path, overrides: typing.Iterable[str] = (), config_class: type[ExperimentConfig] | None = None
) -> ExperimentConfig:
    """Read ``path``, apply ``overrides`` (``["attack.steps=200", ...]``) and validate.

    Raises:
        ConfigError: unreadable file, malformed override, unknown experiment, or an invalid field (the
            message names the dotted field and, where known, the allowed values).
    """
    data = apply_overrides(read_config_file(path), overrides)
    return validate_config(data, config_class)


def dump_config(cfg: BaseModel) -> dict[str, Any]:
    """A JSON-compatible dict of every resolved field (defaults included) that validates back to ``cfg``."""
    return cfg.model_dump(mode="json")


def config_to_yaml(cfg: BaseModel) -> str:
    """The resolved config as YAML text (the ``config.yaml`` of a run folder)."""
    return yaml.safe_dump(dump_config(cfg), sort_keys=False, allow_unicode=True)
