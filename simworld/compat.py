"""Make torchvision importable when its compiled extension cannot load.

torchvision 0.28.0 exists on PyPI only as a CUDA build. On a CPU-only torch its extension
(``torchvision/_C*.so``) cannot load (it links libc10_cuda), and ``import torchvision`` then
fails with ``RuntimeError: operator torchvision::nms does not exist``: its
``_meta_registrations`` registers fake kernels for ``torchvision::nms`` and
``torchvision::qnms`` without checking that the extension loaded.

:func:`ensure_torchvision_importable` runs before the first import of torchvision (it is called
from ``simworld/__init__.py``). It finds the extension without importing torchvision and loads
it, exactly as torchvision itself would. Only if that fails does it define the two op schemas
that torchvision expects, with a pure-torch CPU kernel for ``nms``. Models (AlexNet, VGG,
Inception, R3D), transforms and utils then work; the other compiled ops (``roi_align``,
``deform_conv2d``, ...) and ``torchvision.io`` image codecs stay unavailable.

It does nothing when torchvision is not installed, is already imported, or its extension loads
(every normal install).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Schemas exactly as torchvision declares them (torchvision/csrc/ops/nms.cpp and
# torchvision/csrc/ops/quantized/cpu/qnms_kernel.cpp).
_NMS_SCHEMA = "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"
_QNMS_SCHEMA = "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"


@dataclass(frozen=True)
class TorchvisionStatus:
    """What :func:`ensure_torchvision_importable` found and did.

    Attributes:
        state: One of ``"absent"`` (torchvision not installed), ``"native"`` (its compiled
            extension loaded; nothing patched), ``"patched"`` (extension unavailable; the
            ``nms``/``qnms`` schemas were defined here), ``"already-imported"`` (torchvision was
            imported before simworld; nothing done).
        extension: Path of the compiled extension, if one was found.
        error: Why the extension failed to load (``state == "patched"``), else ``None``.
    """

    state: str
    extension: Path | None = None
    error: str | None = None

    @property
    def compiled_ops(self) -> bool | None:
        """Whether torchvision's compiled ops are available (``None`` if unknown)."""
        if self.state == "native":
            return True
        if self.state == "patched":
            return False
        if self.state == "already-imported":
            tv_extension = sys.modules.get("torchvision.extension")
            has_ops = getattr(tv_extension, "_has_ops", None)
            return bool(has_ops()) if has_ops is not None else None
        return None


_status: TorchvisionStatus | None = None
_library: Any = None  # keeps the torch.library.Library (and so its registrations) alive


def torchvision_status() -> TorchvisionStatus:
    """Return the status recorded by :func:`ensure_torchvision_importable` (running it if needed)."""
    return _status if _status is not None else ensure_torchvision_importable()


def ensure_torchvision_importable() -> TorchvisionStatus:
    """Load torchvision's compiled extension, or stand in for the ops its import needs.

    Idempotent: later calls return the first call's status.

    Returns:
        The :class:`TorchvisionStatus` describing what was found and done.
    """
    global _status
    if _status is None:
        _status = _ensure()
    return _status


def _ensure() -> TorchvisionStatus:
    if "torchvision" in sys.modules:
        return TorchvisionStatus("already-imported")
    try:
        spec = importlib.util.find_spec("torchvision")  # top-level: finds without importing
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return TorchvisionStatus("absent")

    import torch

    extension = _find_extension(spec.submodule_search_locations)
    if extension is not None:
        try:
            # What torchvision.extension does at import; loading it twice is a no-op.
            torch.ops.load_library(str(extension))
            return TorchvisionStatus("native", extension)
        except OSError as exc:
            error = str(exc.__cause__ or exc)
    else:
        error = "no compiled extension (_C) found in " + ", ".join(spec.submodule_search_locations)
    _define_stand_in_ops(torch)
    return TorchvisionStatus("patched", extension, error)


def _find_extension(search_locations: Any) -> Path | None:
    """Locate ``torchvision/_C*.so`` (or ``.pyd``) the way torchvision does, without importing it."""
    loader = (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES)
    for location in search_locations:
        spec = importlib.machinery.FileFinder(location, loader).find_spec("_C")
        if spec is not None and spec.origin:
            return Path(spec.origin)
    return None


def _define_stand_in_ops(torch: Any) -> None:
    """Define ``torchvision::nms`` (with a CPU kernel) and ``torchvision::qnms`` (schema only)."""
    global _library
    try:
        torch._C._dispatch_find_schema_or_throw("torchvision::nms", "")
        return  # someone already defined them
    except RuntimeError:
        pass
    library = torch.library.Library("torchvision", "DEF")
    library.define(_NMS_SCHEMA)
    library.define(_QNMS_SCHEMA)
    library.impl("nms", nms_reference, "CPU")
    _library = library


def nms_reference(dets: Any, scores: Any, iou_threshold: float) -> Any:
    """Greedy non-maximum suppression in plain torch, matching torchvision's CPU kernel.

    Args:
        dets: float (N, 4) boxes as ``(x1, y1, x2, y2)`` with ``x1 < x2`` and ``y1 < y2``.
        scores: float (N,) scores.
        iou_threshold: boxes overlapping a kept box with IoU strictly above this are dropped.

    Returns:
        int64 (K,) indices of the kept boxes, in decreasing order of score.
    """
    import torch

    if dets.dim() != 2 or dets.size(1) != 4:
        raise ValueError(f"boxes should be a (N, 4) tensor, got shape {tuple(dets.shape)}")
    if scores.dim() != 1 or scores.size(0) != dets.size(0):
        raise ValueError(f"scores should be a ({dets.size(0)},) tensor, got shape {tuple(scores.shape)}")
    if dets.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=dets.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    boxes = dets[order].double()
    x1, y1, x2, y2 = boxes.unbind(dim=1)
    areas = (x2 - x1) * (y2 - y1)
    inter_w = (torch.minimum(x2[:, None], x2[None]) - torch.maximum(x1[:, None], x1[None])).clamp(min=0)
    inter_h = (torch.minimum(y2[:, None], y2[None]) - torch.maximum(y1[:, None], y1[None])).clamp(min=0)
    inter = inter_w * inter_h
    iou = inter / (areas[:, None] + areas[None] - inter)
    # Only a higher-scored box can suppress a lower-scored one (NaN IoU never suppresses).
    overlaps = torch.triu(iou > iou_threshold, diagonal=1)
    removed = torch.zeros(len(order), dtype=torch.bool, device=dets.device)
    keep = []
    for i in range(len(order)):
        if not removed[i]:
            keep.append(i)
            removed |= overlaps[i]
    return order[torch.tensor(keep, dtype=torch.long, device=order.device)]
