"""FVD: both protocols' code paths, accumulation, 2 processes, labels, bad input, missing weights.

Bookkeeping tests run with a small seeded network behind the protocol's real preprocessing (fast);
the same properties with a random-weight I3D of the published architecture are marked slow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from evals.metrics import FVD, MetricUnavailable, PerFramePSNR
from evals.metrics.fvd import preprocess_videogpt
from evals.metrics.i3d import StyleGANVDetectorStandIn, init_random_i3d
from evals.metrics.weight_files import download_weights, file_sha256

REPO = Path(__file__).resolve().parents[3]
NETS = ["tiny", pytest.param("i3d", marks=pytest.mark.slow)]


def make_fvd(protocol: str, net: torch.nn.Module, **kwargs: object) -> FVD:
    """FVD with an injected network: called like the TorchScript detector for stylegan_v."""
    if protocol == "stylegan_v":
        net = StyleGANVDetectorStandIn(net)
    options = {"clip_length": 9, "reference_num_clips": 2} | kwargs
    return FVD(protocol, feature_network=net, **options)


@pytest.mark.parametrize("net_kind", NETS)
@pytest.mark.parametrize("protocol", ["stylegan_v", "videogpt"])
def test_self_is_zero_and_grows_with_noise_and_blur(
    kit: SimpleNamespace, protocol: str, net_kind: str
) -> None:
    n = 6 if net_kind == "tiny" else 4
    real = kit.make_clips(n, seed=0)
    fvd = make_fvd(protocol, kit.make_net(net_kind), reset_real_features=False)
    fvd.update(real, real=True)
    values = {}
    for name, generated in [
        ("self", real),
        ("noise 0.05", kit.perturb(real, noise=0.05)),
        ("noise 0.15", kit.perturb(real, noise=0.15)),
        ("noise 0.4", kit.perturb(real, noise=0.4)),
        ("blur 3", kit.perturb(real, blur=3)),
        ("blur 7", kit.perturb(real, blur=7)),
        ("blur 15", kit.perturb(real, blur=15)),
    ]:
        fvd.reset()  # keeps the real statistics
        fvd.update(generated, real=False)
        values[name] = float(fvd.compute())
    scale = max(values.values())
    assert abs(values["self"]) < 1e-6 * scale, values
    assert values["self"] < values["noise 0.05"] < values["noise 0.15"] < values["noise 0.4"], values
    assert values["self"] < values["blur 3"] < values["blur 7"] < values["blur 15"], values


@pytest.mark.parametrize("net_kind", NETS)
def test_batches_equal_one_batch(kit: SimpleNamespace, net_kind: str) -> None:
    n = 6 if net_kind == "tiny" else 4
    real, generated = kit.make_clips(n, seed=0), kit.perturb(kit.make_clips(n, seed=1), noise=0.1)
    net = kit.make_net(net_kind)
    # batch_size=1 in both: the network sees the same single-clip batches (float32 convolutions may
    # round differently in another batch composition); what differs is how updates split the data.
    one = make_fvd("videogpt", net, batch_size=1)
    one.update(real, real=True)
    one.update(generated, real=False)
    split = make_fvd("videogpt", net, batch_size=1)
    for i in range(0, n, 2):
        split.update(generated[i : i + 2], real=False)
        split.update(real[i : i + 2].float() / 255, real=True)  # float input: same frames
    assert float(split.compute()) == pytest.approx(float(one.compute()), rel=1e-9, abs=1e-9)
    assert split.label().num_clips == split.label().num_real_clips == n


@pytest.mark.parametrize("net_kind", NETS)
def test_two_processes_equal_one(kit: SimpleNamespace, tmp_path: Path, net_kind: str) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    worker = Path(__file__).with_name("ddp_worker.py")
    procs = []
    for rank in range(2):
        args = [str(rank), "2", str(tmp_path / "init"), str(tmp_path / f"{rank}.json"), net_kind]
        procs.append(
            subprocess.Popen(
                [sys.executable, str(worker), *args],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )

    # The one-process reference, computed while the workers start.
    n = 6 if net_kind == "tiny" else 4
    real, generated = kit.make_clips(n, seed=0), kit.perturb(kit.make_clips(n, seed=1), noise=0.1)
    single = make_fvd("videogpt", kit.make_net(net_kind))
    single.update(real, real=True)
    single.update(generated, real=False)
    curve = PerFramePSNR(9)
    curve.update(generated, real)

    for proc in procs:
        output, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, output
    ranks = [json.loads((tmp_path / f"{rank}.json").read_text()) for rank in range(2)]
    for result in ranks:
        # Features come from float32 convolutions run with other thread counts and batch
        # compositions (last-bit differences); the synchronised statistics themselves are exact sums.
        assert result["fvd"] == pytest.approx(float(single.compute()), rel=1e-6)
        assert result["num_clips"] == result["num_real_clips"] == n
        assert result["psnr_curve"] == pytest.approx(curve.compute().tolist(), rel=1e-12)


def test_stylegan_v_detector_is_called_as_stylegan_v_does() -> None:
    calls = []

    class Recorder(torch.nn.Module):
        def forward(self, x: torch.Tensor, **kwargs: bool) -> torch.Tensor:
            calls.append((x.dtype, tuple(x.shape), kwargs, int(x.min()), int(x.max())))
            return x.float().mean(dim=(1, 2, 3, 4))[:, None].expand(-1, 400) + torch.arange(400)

    fvd = FVD("stylegan_v", feature_network=Recorder(), clip_length=9, reference_num_clips=2, batch_size=2)
    frames = torch.rand(3, 9, 20, 24, 3)
    fvd.update(frames, real=True)
    assert calls[0][:3] == (
        torch.uint8,
        (2, 3, 9, 20, 24),
        {"rescale": True, "resize": True, "return_features": True},
    )
    assert calls[1][1] == (1, 3, 9, 20, 24)  # batches of batch_size clips
    assert calls[0][3] >= 0 and calls[0][4] <= 255
    label = fvd.label()  # an injected network never produces a number labelled FVD
    assert label.title.endswith("— not FVD") and label.weights_sha256 is None
    assert any("not a published FVD" in note for note in label.notes)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_stylegan_v_torchscript_file_loads_and_is_labelled(kit: SimpleNamespace, tmp_path: Path) -> None:
    detector = torch.jit.script(StyleGANVDetectorStandIn(kit.TinyVideoNet(0)))
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    detector.save(str(weights_dir / "i3d_torchscript.pt"))
    fvd = FVD("stylegan_v", weights_dir=weights_dir, clip_length=9)
    clips = kit.make_clips(4, seed=0)
    fvd.update(clips, real=True)
    fvd.update(kit.perturb(clips, noise=0.2), real=False)
    with pytest.warns(UserWarning, match="fewer than the 2048 per set that fvd2048_9f prescribes"):
        value = float(fvd.compute())
    assert value > 0
    label = fvd.label()
    assert label.title == "FVD fvd2048_9f (StyleGAN-V)" and label.metric == "FVD"
    assert label.weights_sha256 == file_sha256(weights_dir / "i3d_torchscript.pt")
    assert label.weights_verified is None  # no published digest: recorded, not verified
    assert (label.num_clips, label.num_real_clips, label.clip_length, label.resolution) == (4, 4, 9, (32, 32))
    assert any("no published sha256" in note for note in label.notes)
    assert any("fewer clips than fvd2048_9f" in note for note in label.notes)
    assert "TorchScript" in label.network and "ddof=0" in label.protocol


def test_videogpt_state_dict_download_and_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A state dict in VideoGPT's layout, fetched through the download path (file:// URL), loads strictly."""
    source = tmp_path / "served.pt"
    torch.save(init_random_i3d(seed=1).state_dict(), source)
    cache = tmp_path / "cache"
    path = download_weights("i3d_videogpt", cache, url=source.as_uri())
    assert path == cache / "i3d_pretrained_400.pt" and path.read_bytes() == source.read_bytes()
    sha = file_sha256(path)
    assert sha in capsys.readouterr().err and (cache / "i3d_pretrained_400.pt.sha256").read_text().startswith(
        sha
    )
    fvd = FVD("videogpt", weights_dir=cache)
    assert fvd.label().weights_sha256 == sha and fvd.label().title == "FVD fvd2048_16f (VideoGPT)"
    reference = init_random_i3d(seed=1)
    for key, value in reference.state_dict().items():
        assert torch.equal(fvd.network.state_dict()[key], value), key


def test_videogpt_preprocessing() -> None:
    flat = torch.full((2, 9, 48, 64, 3), 51, dtype=torch.uint8)  # 0.2 → 2 * 0.2 - 1 = -0.6
    x = preprocess_videogpt(flat)
    assert x.shape == (2, 3, 9, 224, 224) and x.dtype == torch.float32
    torch.testing.assert_close(x, torch.full_like(x, 51 / 255 * 2 - 1))
    # Short side to 224 (48 → 224, 64 → ceil(64 * 224 / 48) = 299), bilinear, then a center crop.
    frames = torch.randint(0, 256, (1, 9, 48, 64, 3), dtype=torch.uint8)
    whole = torch.nn.functional.interpolate(
        frames[0].permute(0, 3, 1, 2).float() / 255, size=(224, 299), mode="bilinear", align_corners=False
    )
    expected = whole[:, :, :, 37 : 37 + 224].permute(1, 0, 2, 3)[None] * 2 - 1
    torch.testing.assert_close(preprocess_videogpt(frames), expected)
    # VideoGPT computes the long side with Python floats: 100 * (224 / 100) = 224.00000000000003 → 225.
    assert preprocess_videogpt(torch.zeros(1, 9, 100, 100, 3, dtype=torch.uint8)).shape[-2:] == (224, 224)


def test_bad_input_errors(kit: SimpleNamespace, tiny_net: torch.nn.Module) -> None:
    fvd = make_fvd("videogpt", tiny_net)
    with pytest.raises(ValueError, match="I3D needs at least 9"):
        fvd.update(kit.make_clips(2, seed=0, frames=8), real=True)
    with pytest.raises(ValueError, match="clip_length=9"):
        fvd.update(kit.make_clips(2, seed=0, frames=10), real=True)
    fvd.update(kit.make_clips(2, seed=0), real=True)
    with pytest.raises(
        ValueError, match=r"generated clips have \(T, H, W\) = \(9, 16, 16\) but real clips had \(9, 32, 32\)"
    ):
        fvd.update(kit.make_clips(2, seed=0, size=16), real=False)
    with pytest.raises(ValueError, match="channels-first"):
        fvd.update(torch.zeros(2, 9, 3, 32, 32), real=False)
    with pytest.raises(ValueError, match="at least 2 real and 2 generated"):
        fvd.compute()
    with pytest.raises(ValueError, match="valid options: stylegan_v, videogpt"):
        FVD("tats", feature_network=tiny_net)
    with pytest.raises(ValueError, match="clip_length must be an int >= 9"):
        FVD("videogpt", feature_network=tiny_net, clip_length=4)


def test_wrong_network_output_is_an_error(kit: SimpleNamespace) -> None:
    fvd = FVD("videogpt", feature_network=torch.nn.Flatten(), clip_length=9)
    with pytest.raises(ValueError, match=r"expected \(2, 400\)"):
        fvd.update(kit.make_clips(2, seed=0), real=True)


@pytest.mark.parametrize(
    ("protocol", "filename"), [("stylegan_v", "i3d_torchscript.pt"), ("videogpt", "i3d_pretrained_400.pt")]
)
def test_missing_weights_make_fvd_unavailable(no_weights: Path, protocol: str, filename: str) -> None:
    with pytest.raises(MetricUnavailable, match="FVD unavailable: I3D weights not found") as info:
        FVD(protocol)
    assert any(p.endswith(filename) for p in info.value.searched)
    result = info.value.as_result()
    assert result.metric == "FVD" and result.value is None and "download=True" in result.fix
    assert "unavailable" in str(result)


def test_failed_download_is_unavailable(no_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(name: str, *args: object, **kwargs: object) -> Path:
        raise OSError("network unreachable")

    monkeypatch.setattr("evals.metrics.weight_files.download_weights", offline)
    with pytest.raises(MetricUnavailable, match="download failed: network unreachable"):
        FVD("videogpt", download=True)
