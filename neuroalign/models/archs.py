"""torchvision's architecture names without importing torchvision (cached per version).

Checking a ``torchvision:<arch>`` spec needs only the names, but listing them imports
torchvision (and torch): seconds at every Snakemake start and dry run. The list is kept in
the activation cache folder, keyed by torchvision's installed version, and rebuilt when that
version changes or the file is unreadable.
"""

from __future__ import annotations

import json
from importlib import metadata


def torchvision_archs() -> list[str]:
    """Sorted names of torchvision's classification architectures (``models.list_models``)."""
    from ..activations.cache import default_cache_dir
    from ..atomic import atomic_path

    try:
        version = metadata.version("torchvision")
    except metadata.PackageNotFoundError:
        version = "unknown"
    path = default_cache_dir() / f"torchvision-archs-{version}.json"
    try:
        names = json.loads(path.read_text())
        if isinstance(names, list) and names:
            return names
    except (OSError, ValueError):
        pass
    from torchvision import models

    names = sorted(models.list_models(module=models))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(names))
    except OSError:  # a read-only cache: list them again next time
        pass
    return names
