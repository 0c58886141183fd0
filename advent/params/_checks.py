"""The range checks the sections share: each raises ConfigError naming the dotted key."""
from __future__ import annotations

from advent.config import ConfigError


def _at_least(key: str, obj: object, minimum: int | float, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value < minimum:
            raise ConfigError(f"{key}.{name} must be >= {minimum}, got {value}")


def _in_range(key: str, obj: object, low: int | float, high: int | float, *names: str) -> None:
    """Each value in [low, high]."""
    for name in names:
        value = getattr(obj, name)
        if not low <= value <= high:
            raise ConfigError(f"{key}.{name} must be in [{low}, {high}], got {value}")


def _positive(key: str, obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not value > 0:
            raise ConfigError(f"{key}.{name} must be positive, got {value}")


def _distinct_models(key: str, models: tuple[str, ...]) -> None:
    """A list of adapted models (one, or the members of an ensemble): non-empty, no repeats."""
    if not models or len(set(models)) != len(models):
        raise ConfigError(f"{key}.models must name distinct adapted models, got {list(models)}")


def _in_unit_interval(key: str, obj: object, *names: str, closed_low: bool = False) -> None:
    """Each value in (0, 1] (or [0, 1] with ``closed_low``)."""
    for name in names:
        value = getattr(obj, name)
        ok = (0.0 <= value <= 1.0) if closed_low else (0.0 < value <= 1.0)
        if not ok:
            interval = "[0, 1]" if closed_low else "(0, 1]"
            raise ConfigError(f"{key}.{name} must be in {interval}, got {value}")
