"""Strict, typed readers for environment variables.

Settings are read once, here, at startup. A malformed value raises ImproperlyConfigured with the
variable's name, so a typo in /etc/camsite/env stops the server instead of silently using a default.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool = False) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None
    _check_range(name, number, minimum, maximum)
    return number


def env_float(name: str, default: float, *, minimum: float | None = None, maximum: float | None = None) -> float:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ImproperlyConfigured(f"{name} must be a finite number, got {value!r}")
    _check_range(name, number, minimum, maximum)
    return number


_BYTE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def env_bytes(name: str, default: int) -> int:
    """A size in bytes: a whole number, optionally with a binary unit K, M, G or T (`500M` is 500 MiB)."""
    value = _raw(name)
    if value is None:
        return default
    match = re.fullmatch(r"(\d+)\s*([KMGT]?)i?B?", value, flags=re.IGNORECASE)
    if not match:
        raise ImproperlyConfigured(f"{name} must be a size in bytes such as 1048576, 500M or 2G, got {value!r}")
    return int(match[1]) * _BYTE_UNITS[match[2].upper()]


def env_optional_float(name: str, *, minimum: float, maximum: float) -> float | None:
    """A number when the variable is set, else None (a place's latitude: there is no sensible default)."""
    return None if _raw(name) is None else env_float(name, 0, minimum=minimum, maximum=maximum)


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    """A comma-separated list; blank items are dropped."""
    value = _raw(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """A comma-separated list of IP addresses or networks (`192.168.1.10`, `10.0.0.0/8`, `::1`)."""
    networks = []
    for item in env_list(name):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"{name} must list IP addresses or networks, got {item!r}") from None
    return networks


def env_url(name: str, default: str = "", *, schemes: tuple[str, ...] = ("http", "https")) -> str:
    """A URL with one of `schemes` and a host, or empty; a trailing slash is dropped."""
    value = env_str(name, default)
    if not value:
        return ""
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in schemes or not rest.split("/", 1)[0]:
        raise ImproperlyConfigured(f"{name} must be a {' or '.join(schemes)} URL (scheme://host...), got {value!r}")
    return value.rstrip("/")


def env_topic(name: str, default: str) -> str:
    """An MQTT topic prefix: no wildcards (+, #), no leading or trailing slash."""
    value = env_str(name, default).strip("/")
    if not value or "+" in value or "#" in value or "\x00" in value:
        raise ImproperlyConfigured(f"{name} must be an MQTT topic without wildcards (+, #), got {value!r}")
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default).lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def env_secret(name: str, default_file: Path | None, *, required: bool = True) -> str:
    """A secret from `name`, else from the file named by `{name}_FILE`, else from `default_file` if it exists.

    The file forms keep the secret out of the environment (a systemd credential, a file only root can read)
    and let a checkout run without exporting it by hand. A file that is named or present but gives no secret
    stops startup: falling through to another source would hide a broken deployment. Returns "" when nothing
    gives one and `required` is false.
    """
    value = _raw(name)
    if value is not None:
        return value
    file_var = f"{name}_FILE"
    named = _raw(file_var)
    if named is not None:
        return _read_secret(Path(named), f"{file_var} ({named})")
    if default_file is not None and default_file.exists():
        return _read_secret(default_file, str(default_file))
    if required:
        raise ImproperlyConfigured(
            f"{name} must be set, or {file_var} must name a file that holds it, or {default_file} must exist"
        )
    return ""


def _read_secret(path: Path, source: str) -> str:
    try:
        secret = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ImproperlyConfigured(f"cannot read the secret in {source}: {error}") from None
    if not secret:
        raise ImproperlyConfigured(f"{source} is empty: it must hold the secret")
    return secret


def _check_range(name: str, number: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {number}")


HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def env_host_name(name: str, default: str) -> str:
    """A host's name as rows, object keys and `?host=` carry it: letters, digits, '.', '_', '-', at most 63."""
    value = env_str(name, default)
    if not HOST_NAME.fullmatch(value):
        raise ImproperlyConfigured(
            f"{name} must be 1-63 letters, digits, '.', '_' or '-' (starting with a letter or digit), got {value!r}"
        )
    return value


# The engines DATABASE_URL may name: what the code is tested on.
DATABASE_ENGINES = {"postgresql": "django.db.backends.postgresql", "sqlite": "django.db.backends.sqlite3"}


def env_database_url(name: str) -> dict | None:
    """`name` as a database URL (`postgres://user:password@host:5432/camsite`, `sqlite:////abs/path.sqlite3`)
    parsed into Django's DATABASES entry by dj-database-url, or None when it is unset.

    The URL holds a password, so no message here repeats it: only the part that is wrong."""
    value = _raw(name)
    if value is None:
        return None
    import dj_database_url

    scheme = value.partition("://")[0].lower()
    try:
        config = dj_database_url.parse(value)
    except dj_database_url.UnknownSchemeError:
        raise ImproperlyConfigured(f"{name} must be a postgres:// or sqlite:// URL, got {scheme}://") from None
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} is not a valid database URL (percent-encode special characters in the password)"
        ) from None
    if config.get("ENGINE") not in DATABASE_ENGINES.values():
        raise ImproperlyConfigured(f"{name} must be a postgres:// or sqlite:// URL, got {scheme}://")
    if not config.get("NAME"):
        raise ImproperlyConfigured(f"{name} names no database (the path after the host)")
    return dict(config)


def env_per_camera(reserved: tuple[str, ...] = ()) -> dict[int, dict[str, str]]:
    """`CAMERA_<N>_<NAME>=value` variables as {N: {NAME: value}} (raw text: the capture parameters' declaration
    validates them). Names in `reserved` (settings of their own, such as CAMERA_LOCK_PATH) are not camera ones."""
    found: dict[int, dict[str, str]] = {}
    for name, value in os.environ.items():
        match = re.fullmatch(r"CAMERA_(\d+)_([A-Z][A-Z0-9_]*)", name)
        if match and name not in reserved and value.strip():
            found.setdefault(int(match[1]), {})[match[2]] = value
    return found
