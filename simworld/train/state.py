"""Training state for exact resume: safetensors for tensors, JSON for the rest, never pickle.

``train_state/`` holds::

    tensors.safetensors   every tensor: model weights, EMA weights, optimizer moments, RNG states
    state.json            everything else: step, data position, optimizer structure, per-rank
                          numpy/python RNG states, with {"__tensor__": name} where a tensor was

Nested state (an optimizer's ``state_dict()``) is flattened by :func:`flatten`: each tensor is
stored under a dotted name and replaced in the JSON structure by a reference; :func:`unflatten`
inverts it. Dict keys that are ints (optimizer parameter ids) survive the round trip.

:func:`save_train_state` writes into a temporary sibling folder and renames it into place, so a
kill during saving leaves the previous state intact.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

STATE_DIR = "train_state"
TENSORS_FILE = "tensors.safetensors"
JSON_FILE = "state.json"
_TENSOR = "__tensor__"
_INT_KEYS = "__int_keys__"


def flatten(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON-able copy of ``obj`` with every tensor moved into ``tensors`` under a dotted name."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().cpu().contiguous().clone()
        return {_TENSOR: prefix}
    if isinstance(obj, dict):
        int_keys = all(isinstance(k, int) for k in obj) and bool(obj)
        out = {str(k): flatten(v, f"{prefix}.{k}", tensors) for k, v in obj.items()}
        return {_INT_KEYS: out} if int_keys else out
    if isinstance(obj, (list, tuple)):
        return [flatten(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} at {prefix!r} in the training state")


def unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`flatten`."""
    if isinstance(obj, dict):
        if set(obj) == {_TENSOR}:
            return tensors[obj[_TENSOR]]
        if set(obj) == {_INT_KEYS}:
            return {int(k): unflatten(v, tensors) for k, v in obj[_INT_KEYS].items()}
        return {k: unflatten(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unflatten(v, tensors) for v in obj]
    return obj


def capture_rng(generator: torch.Generator) -> dict[str, Any]:
    """This process's RNG states: torch (CPU, and CUDA when present), the trainer's generator,
    numpy's and python's global ones."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "generator": generator.get_state(),
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def restore_rng(state: dict[str, Any], generator: torch.Generator) -> None:
    """Set the RNG states captured by :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def save_train_state(folder: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (nested dicts/lists of tensors and JSON values) to ``folder/train_state``.

    Atomic: written to ``.train_state.tmp`` and renamed over the old folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final, tmp, old = folder / STATE_DIR, folder / f".{STATE_DIR}.tmp", folder / f".{STATE_DIR}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    tensors: dict[str, torch.Tensor] = {}
    structure = flatten(state, "state", tensors)
    save_file(tensors, str(tmp / TENSORS_FILE))
    (tmp / JSON_FILE).write_text(json.dumps(structure) + "\n")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def load_train_state(folder: str | Path) -> dict[str, Any] | None:
    """Read the state written by :func:`save_train_state`; ``None`` when ``folder`` has none.

    A kill between the two renames of a save leaves only ``.train_state.old``; it is used then.
    """
    folder = Path(folder)
    for name in (STATE_DIR, f".{STATE_DIR}.old"):
        path = folder / name
        if (path / JSON_FILE).is_file() and (path / TENSORS_FILE).is_file():
            tensors = load_file(str(path / TENSORS_FILE))
            return unflatten(json.loads((path / JSON_FILE).read_text()), tensors)
    return None
