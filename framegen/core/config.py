"""One source of truth for options: pydantic models hold defaults and validation.

Precedence: command-line flags > `--config FILE` (TOML) > the model's defaults. Each stage writes the
resolved config into its manifest (`parameters`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from framegen.core.errors import InputError, UsageError, first_validation_error

C = TypeVar("C", bound=BaseModel)


def resolve_config(
    cls: type[C], flags: dict[str, Any], config_file: Path | None = None, base: dict[str, Any] | None = None
) -> C:
    """Build `cls` from the config file (if any) overridden by the flags that were given (not None).

    `base`: values below the file's, e.g. the saved config of a run being resumed.
    """
    values: dict[str, Any] = dict(base or {})
    if config_file is not None:
        try:
            values.update(tomllib.loads(Path(config_file).read_text()))
        except FileNotFoundError:
            raise InputError(f"{config_file}: config file not found") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise InputError(f"{config_file}: not a readable TOML config ({e})") from None
    values.update({key: value for key, value in flags.items() if value is not None})
    try:
        return cls.model_validate(values)
    except ValidationError as e:
        where, what = first_validation_error(e)
        raise UsageError(f"invalid value for {(where or 'config').replace('_', '-')}: {what}") from None


def validate_section(cls: type[C], values: dict[str, Any], what: str) -> C:
    """`cls` from one section of a config (a model's, a loss's); a bad field is a UsageError naming `what`."""
    try:
        return cls.model_validate(values)
    except ValidationError as e:
        where, message = first_validation_error(e)
        raise UsageError(f"invalid {what} setting {where or what}: {message}") from None
