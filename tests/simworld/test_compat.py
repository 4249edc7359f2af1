"""simworld.compat: torchvision imports on CPU torch; the fix stays inert elsewhere."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from simworld import compat
from simworld.compat import TorchvisionStatus, ensure_torchvision_importable, nms_reference


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )


def brute_force_nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> list[int]:
    """Textbook greedy NMS, one box at a time (torchvision's CPU kernel, in Python)."""
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    keep: list[int] = []
    for i in order:
        ok = True
        for j in keep:
            x1 = max(boxes[i, 0], boxes[j, 0])
            y1 = max(boxes[i, 1], boxes[j, 1])
            x2 = min(boxes[i, 2], boxes[j, 2])
            y2 = min(boxes[i, 3], boxes[j, 3])
            inter = max(0.0, float(x2 - x1)) * max(0.0, float(y2 - y1))
            area = lambda k: float((boxes[k, 2] - boxes[k, 0]) * (boxes[k, 3] - boxes[k, 1]))  # noqa: E731
            if inter / (area(i) + area(j) - inter) > threshold:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def test_torchvision_models_and_lpips_import_after_simworld() -> None:
    result = run_python(
        """
        import simworld, torch
        import torchvision
        model = torchvision.models.alexnet()
        assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)
        import lpips
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity
        from simworld.compat import torchvision_status
        print(torchvision_status().state)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in {"native", "patched"}


def test_nms_op_gives_right_keep_indices() -> None:
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    expected = [3, 2]  # box 0 duplicates box 3; box 1 overlaps box 3 with IoU 81/119 > 0.5
    assert nms_reference(boxes, scores, 0.5).tolist() == expected
    assert nms_reference(boxes, scores, 0.7).tolist() == [3, 1, 2]
    import torchvision  # noqa: F401  (simworld is imported: this works on CPU torch too)

    assert torch.ops.torchvision.nms(boxes, scores, 0.5).tolist() == expected


def test_nms_reference_matches_brute_force() -> None:
    generator = torch.Generator().manual_seed(0)
    for n in (1, 5, 40):
        xy = torch.rand(n, 2, generator=generator) * 50
        wh = torch.rand(n, 2, generator=generator) * 20 + 1
        boxes = torch.cat([xy, xy + wh], dim=1)
        scores = torch.rand(n, generator=generator)
        for threshold in (0.0, 0.3, 0.7):
            keep = nms_reference(boxes, scores, threshold)
            assert keep.dtype == torch.long
            assert keep.tolist() == brute_force_nms(boxes, scores, threshold)


def test_nms_reference_empty_and_bad_shapes() -> None:
    assert nms_reference(torch.zeros(0, 4), torch.zeros(0), 0.5).tolist() == []
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        nms_reference(torch.zeros(3, 5), torch.zeros(3), 0.5)
    with pytest.raises(ValueError, match="scores"):
        nms_reference(torch.zeros(3, 4), torch.zeros(2), 0.5)


def test_idempotent() -> None:
    assert ensure_torchvision_importable() is ensure_torchvision_importable()


def test_inert_when_torchvision_already_imported() -> None:
    result = run_python(
        """
        import sys, types, torch
        sys.modules["torchvision"] = types.ModuleType("torchvision")  # stands for an earlier import
        import simworld
        from simworld.compat import torchvision_status
        try:
            torch._C._dispatch_find_schema_or_throw("torchvision::nms", "")
            defined = True
        except RuntimeError:
            defined = False
        print(torchvision_status().state, defined)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["already-imported", "False"]


def test_inert_when_torchvision_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "torchvision", raising=False)
    monkeypatch.setattr(compat.importlib.util, "find_spec", lambda name: None)
    assert compat._ensure() == TorchvisionStatus("absent")


def test_inert_when_extension_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[str] = []
    monkeypatch.delitem(sys.modules, "torchvision", raising=False)
    monkeypatch.setattr(torch.ops, "load_library", loaded.append)
    monkeypatch.setattr(compat, "_define_stand_in_ops", lambda torch: pytest.fail("must not patch"))
    status = compat._ensure()
    assert status.state == "native" and status.compiled_ops is True
    assert loaded == [str(status.extension)] and status.extension.name.startswith("_C")
