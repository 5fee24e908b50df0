"""The library versions a result depends on, recorded in adapter manifests and evaluation results."""

from __future__ import annotations

import platform


def library_versions() -> dict:
    import importlib.metadata as md

    versions = {"python": platform.python_version()}
    for package in ("torch", "transformers", "peft", "trl", "accelerate", "bitsandbytes", "ltm"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            versions[package] = None
    return versions
