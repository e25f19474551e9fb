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
from framegen.core.files import check_regular_file

C = TypeVar("C", bound=BaseModel)


def resolve_config(
    cls: type[C], flags: dict[str, Any], config_file: Path | None = None, base: dict[str, Any] | None = None,
    flag_names: dict[str, str] | None = None,
) -> C:
    """Build `cls` from the config file (if any) overridden by the flags that were given (not None).

    `base`: values below the file's, e.g. the saved config of a run being resumed.
    A bad value is one UsageError line naming where it came from: the flag (`--max-side`, or
    `flag_names[field]` where the flag is not the field's name), else the config file and its key.
    """
    values: dict[str, Any] = dict(base or {})
    from_file = read_config_file(config_file) if config_file is not None else {}
    given = {key: value for key, value in flags.items() if value is not None}
    values.update(from_file)
    values.update(given)
    try:
        return cls.model_validate(values)
    except ValidationError as e:
        where, what = first_validation_error(e)
        field = where.split(".")[0]
        if field in given:
            flag = (flag_names or {}).get(field, "--" + field.replace("_", "-"))
            raise UsageError(f"invalid value for {flag}: {what}") from None
        if field in from_file:
            raise UsageError(f"{config_file}: invalid value for {where}: {what}") from None
        raise UsageError(f"invalid value for {where or 'config'}: {what}") from None


def read_config_file(config_file: Path) -> dict[str, Any]:
    """The settings of a `--config` TOML file; a missing or unreadable one is an InputError."""
    if not Path(config_file).exists():
        raise InputError(f"{config_file}: config file not found")
    check_regular_file(config_file, "a TOML config file")
    try:
        return tomllib.loads(Path(config_file).read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise InputError(f"{config_file}: not a readable TOML config ({e})") from None
    except RecursionError:
        raise InputError(f"{config_file}: not a framegen config (nested too deeply to read)") from None


def validate_section(cls: type[C], values: dict[str, Any], what: str) -> C:
    """`cls` from one section of a config (a model's, a loss's); a bad field is a UsageError naming `what`."""
    try:
        return cls.model_validate(values)
    except ValidationError as e:
        where, message = first_validation_error(e)
        raise UsageError(f"invalid {what} setting {where or what}: {message}") from None
