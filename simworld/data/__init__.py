"""Trajectory datasets: the on-disk format, collection, validation, loading, latent caches, importers.

- ``format``: the manifest and the documented arrays of an episode (docs/dataset_format.md);
- ``shards``: one reproducible ``.npz`` per episode, sha256-checked on read;
- ``writer``: create or resume a dataset and commit episodes atomically;
- ``collect``: play a policy in a Gymnasium env in worker processes (``simworld collect``);
- ``validate``: check every shard (``simworld validate``);
- ``windows``: ``WindowDataset``, a torch dataset of T-frame windows, split across DataLoader
  workers and DDP ranks;
- ``latents``: encode a dataset once with a VAE-like encoder and train on the latent cache;
- ``importers``: OpenAI VPT contractor data and MineRL v0.4 recordings (``simworld import``).
"""

from typing import Any

from simworld.data.format import DATASET_SCHEMA, FORMAT_VERSION, LATENTS_SCHEMA, Manifest, load_manifest
from simworld.data.shards import CorruptShardError, read_shard
from simworld.data.validate import validate_dataset

_LAZY = {"WindowDataset": "simworld.data.windows", "cache_latents": "simworld.data.latents"}


def __getattr__(name: str) -> Any:
    # torch-backed names load on first use: collect workers and the CLI stay free of torch's import time
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'simworld.data' has no attribute {name!r}")


__all__ = [
    "DATASET_SCHEMA",
    "FORMAT_VERSION",
    "LATENTS_SCHEMA",
    "CorruptShardError",
    "Manifest",
    "WindowDataset",
    "cache_latents",
    "load_manifest",
    "read_shard",
    "validate_dataset",
]
