"""Where the bundled model files and data sets are, wherever semcluster is installed."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import ModelSpecError, SemclusterError

MODEL_SUFFIX = ".lav"


def bundled_models() -> list[str]:
    """Names of the model files shipped with semcluster (``h1_h5``, ``cfa``, ...)."""
    root = resources.files("semcluster.resources.models")
    return sorted(p.name[: -len(MODEL_SUFFIX)] for p in root.iterdir()
                  if p.name.endswith(MODEL_SUFFIX))


def model_path(name_or_path: str | Path) -> Path:
    """Resolve a model argument: an existing file path, or the name of a bundled model."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    name = str(name_or_path)
    if name.endswith(MODEL_SUFFIX):
        name = name[: -len(MODEL_SUFFIX)]
    candidate = resources.files("semcluster.resources.models") / (name + MODEL_SUFFIX)
    if candidate.is_file():
        return Path(str(candidate))
    raise ModelSpecError(
        f"model '{name_or_path}' is neither a file nor a bundled model; "
        f"bundled models: {', '.join(bundled_models())}")


def data_path(name: str) -> Path:
    """Path of a data file shipped in the folder ``semcluster/resources/data``."""
    candidate = resources.files("semcluster.resources").joinpath("data", name)
    if not candidate.is_file():
        raise SemclusterError(f"bundled data file '{name}' is missing from the installation")
    return Path(str(candidate))
