"""Facts about this installation: versions, devices, optional extras and weights.

What ``simworld info`` prints; the first thing to run, and to paste into a bug report, when
something is off.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simworld.compat import torchvision_status
from simworld.weights import WEIGHTS, find_weight

FORMATS = ("text", "json")

# (label, distribution names tried in order)
_PACKAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("simworld", ("simworld",)),
    ("torch", ("torch",)),
    ("torchvision", ("torchvision",)),
    ("numpy", ("numpy",)),
    ("numba", ("numba",)),
    ("scipy", ("scipy",)),
    ("einops", ("einops",)),
    ("diffusers", ("diffusers",)),
    ("safetensors", ("safetensors",)),
    ("gymnasium", ("gymnasium",)),
    ("hydra-core", ("hydra-core",)),
    ("omegaconf", ("omegaconf",)),
    ("torchmetrics", ("torchmetrics",)),
    ("lpips", ("lpips",)),
    ("pandas", ("pandas",)),
    ("pyarrow", ("pyarrow",)),
    ("av", ("av",)),
    ("imageio", ("imageio",)),
    ("imageio-ffmpeg", ("imageio-ffmpeg",)),
    ("opencv", ("opencv-python-headless", "opencv-python")),
    ("pillow", ("pillow",)),
)

# (module, extra that installs it)
_EXTRAS: tuple[tuple[str, str], ...] = (("vizdoom", "vizdoom"), ("minerl", "minerl"), ("pygame", "play"))


@dataclass
class InfoConfig:
    """Configuration of ``simworld info`` (``configs/info.yaml``).

    Attributes:
        format: ``text`` (aligned, for people) or ``json`` (for scripts and bug reports).
        weights_dir: A directory searched first for pretrained weights, before
            ``$SIMWORLD_WEIGHTS_DIR``, ``$TORCH_HOME/hub/checkpoints`` and ``../shared/weights``.
    """

    format: str = "text"
    weights_dir: str | None = None

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}; got '{self.format}'")


def collect_info(weights_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Gather versions, device facts, optional extras and weight lookups.

    Args:
        weights_dir: An extra directory searched first for weights.

    Returns:
        A JSON-serialisable dict with sections ``simworld``, ``python``, ``packages``,
        ``torchvision_ops``, ``device``, ``extras`` and ``weights``.
    """
    import simworld
    from simworld.config import ConfigError, config_dir

    try:
        configs: str | None = str(config_dir())
    except ConfigError:
        configs = None
    return {
        "simworld": {
            "version": simworld.__version__,
            "location": str(Path(simworld.__file__).resolve().parent),
            "configs": configs,
        },
        "python": {
            "version": platform.python_version(),
            "executable": sys.executable,
            "platform": platform.platform(),
        },
        "packages": package_versions(),
        "torchvision_ops": _torchvision_ops(),
        "device": _device_facts(),
        "extras": {module: _extra_status(module, extra) for module, extra in _EXTRAS},
        "weights": {name: _weight_status(name, weights_dir) for name in WEIGHTS},
    }


def format_info(info: dict[str, Any], fmt: str) -> str:
    """Render :func:`collect_info`'s dict as ``text`` or ``json``."""
    if fmt == "json":
        return json.dumps(info, indent=2)
    if fmt == "text":
        return _format_text(info)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}; got '{fmt}'")


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that shape simworld's numbers (None: not installed)."""
    return {label: _dist_version(dists) for label, dists in _PACKAGES}


def _dist_version(dists: tuple[str, ...]) -> str | None:
    for dist in dists:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _torchvision_ops() -> dict[str, Any]:
    status = torchvision_status()
    notes = {
        "absent": "torchvision not installed",
        "native": "compiled ops loaded",
        "patched": "compiled ops unavailable; simworld.compat defined torchvision::nms/qnms so that "
        "models and transforms import (ops.nms etc. and torchvision.io codecs do not work)",
        "already-imported": "torchvision was imported before simworld; compat fix not needed or not applied",
    }
    return {
        "state": status.state,
        "compiled_ops": status.compiled_ops,
        "note": notes.get(status.state, status.state),
        "error": status.error,
    }


def hardware(device: Any) -> dict[str, Any]:
    """Machine facts recorded beside a result (model cards, eval manifests): platform, CPU, CPU count,
    torch threads and version, the device, and the GPU's name when ``device`` is a CUDA device."""
    import torch

    device = torch.device(device)
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": str(device),
    }
    if device.type == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _device_facts() -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available()
    devices = []
    if cuda:
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            devices.append(
                {
                    "index": index,
                    "name": props.name,
                    "memory_gib": round(props.total_memory / 2**30, 1),
                    "capability": f"{props.major}.{props.minor}",
                }
            )
    try:
        cpu_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        cpu_bf16 = None
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "torch_cuda_build": torch.version.cuda,
        "cuda_available": cuda,
        "cuda_devices": devices,
        "cuda_bf16": bool(torch.cuda.is_bf16_supported()) if cuda else None,
        "mps_available": bool(torch.backends.mps.is_available()),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cpu_usable": affinity,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_bf16_native": cpu_bf16,
    }


def _extra_status(module: str, extra: str) -> dict[str, Any]:
    if importlib.util.find_spec(module) is None:
        return {"importable": False, "version": None, "error": f'not installed (pip install -e ".[{extra}]")'}
    if module == "pygame":
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # keep its banner out of our output
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # any import failure is a fact worth reporting, not a crash
        return {"importable": False, "version": None, "error": f"{type(exc).__name__}: {exc}"}
    return {"importable": True, "version": getattr(mod, "__version__", None), "error": None}


def _weight_status(name: str, weights_dir: str | os.PathLike[str] | None) -> dict[str, Any]:
    lookup = find_weight(name, weights_dir)
    verified = lookup.verify()
    checksum = (
        None if not lookup.found else {True: "ok", False: "MISMATCH", None: "no known sha256"}[verified]
    )
    return {
        "found": lookup.found,
        "path": str(lookup.path) if lookup.path else None,
        "format": lookup.file.format if lookup.file else None,
        "sha256_expected": lookup.sha256,
        "checksum": checksum,
        "searched": [str(p) for p in lookup.searched],
        "skipped": list(lookup.skipped),
        "downloads": {f.filename: f.url for f in WEIGHTS[name].files},
        "description": WEIGHTS[name].description,
    }


def _rows(title: str, rows: list[tuple[str, Any]]) -> list[str]:
    width = max(len(key) for key, _ in rows)
    return (
        [title] + [f"  {key.ljust(width)}  {'-' if value is None else value}" for key, value in rows] + [""]
    )


def _format_text(info: dict[str, Any]) -> str:
    sw, py, dev, tv = info["simworld"], info["python"], info["device"], info["torchvision_ops"]
    lines = _rows(
        "simworld",
        [("version", sw["version"]), ("location", sw["location"]), ("configs", sw["configs"])],
    )
    lines += _rows(
        "python", [("version", py["version"]), ("executable", py["executable"]), ("platform", py["platform"])]
    )
    packages = [(k, v if v is not None else "not installed") for k, v in info["packages"].items()]
    packages.append(("torchvision ops", tv["note"] + (f" ({tv['error']})" if tv["error"] else "")))
    lines += _rows("packages", packages)
    gpus = "; ".join(
        f"{d['index']}: {d['name']} {d['memory_gib']} GiB sm_{d['capability']}" for d in dev["cuda_devices"]
    )
    lines += _rows(
        "device",
        [
            ("cuda available", dev["cuda_available"]),
            ("torch cuda build", dev["torch_cuda_build"] or "none (CPU build)"),
            ("cuda devices", gpus or "none"),
            ("cuda bf16", dev["cuda_bf16"]),
            ("mps available", dev["mps_available"]),
            ("torch threads", dev["torch_threads"]),
            ("cpu count", f"{dev['cpu_count']} ({dev['cpu_usable']} usable)"),
            ("cpu capability", dev["cpu_capability"]),
            ("cpu bf16 native", dev["cpu_bf16_native"]),
        ],
    )
    extras = [
        (name, f"yes ({e['version']})" if e["importable"] else f"no: {e['error']}")
        for name, e in info["extras"].items()
    ]
    lines += _rows("optional extras", extras)
    order = "weights_dir, $SIMWORLD_WEIGHTS_DIR, $TORCH_HOME/hub/checkpoints, ../shared/weights"
    lines.append(f"weights (search order: {order})")
    for name, w in info["weights"].items():
        state = f"found {w['path']} [sha256 {w['checksum']}]" if w["found"] else "NOT FOUND"
        lines.append(f"  {name}: {state}")
        lines.append(f"    {w['description']}")
        lines += [f"    skipped  {reason}" for reason in w["skipped"]]
        lines += [f"    searched {path}" for path in w["searched"]]
        if not w["found"]:
            lines += [
                f"    download {file} <- {url or 'no public URL'}" for file, url in w["downloads"].items()
            ]
    return "\n".join(lines)
