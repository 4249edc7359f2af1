"""Long-range coherence: rollouts well past the training context, measured frame by frame against the truth.

Each case drives a scripted exploration policy (``envs.voxel.policies``: ``explore`` walks with
smooth turns into new ground, ``loop`` walks A→B→A legs and revisits, ``circle`` orbits a
landmark) through a procedural voxel world for ``context_frames - 1 + horizon`` steps. The policy
reads the world, so its actions are recorded once by playing it in the real env while the case is
built; the case then holds them as explicit action lists, which the truth, the simulator and every
predictor replay. Everything is a pure function of (world seed, policy, options).

Per case, on all K = ``horizon`` predicted frames (rows every ``curve_stride`` frames, plus the first
and the last, keep the tables small; summaries use every frame):

- ``psnr``, ``ssim``, ``lpips`` per frame against the truth;
- ``sharpness_drift``: ``|log2|`` of the ratio of mean sharpness (prediction / truth) over a
  trailing window: 0 when the prediction is as sharp as the truth, 1 when it is half (blur) or
  twice (noise) as sharp; ``sharpness_log2_ratio`` keeps the sign (blur < 0 < noise);
- ``colour_mean_drift``, ``colour_std_drift``: Euclidean distance between the predicted and true
  per-frame RGB means (colour cast) and RGB standard deviations (contrast), in [0, 1] units;
- ``collapse_horizon``: the first frame at which the prediction is worse than copying the last
  context frame (computed from the truth), in a running mean (see :func:`collapse_horizon`);
- ``fvd``: FVD between the true and predicted clips of horizon buckets (0, 2c], (2c, 4c],
  (4c, 8c], ... frames (c = ``fvd_clip_length``), pooled over ALL cases of the probe and all
  non-overlapping c-frame windows inside the bucket (FVD needs many clips; ``score`` receives all
  cases at once). Without the I3D weights the rows are NaN and their note says why.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from evals.metrics.base import MetricUnavailable
from evals.probes import frames as F
from evals.probes.base import (
    VOXEL_ENVS,
    Case,
    Media,
    MetricSpec,
    Probe,
    ProbeContext,
    ProbeEnv,
    ProbeOutput,
    Row,
    stable_seed,
)

DEFAULT_POLICIES = ("explore", "loop")
SHARPNESS_EPS = 1e-6
FVD_PROTOCOLS = ("stylegan_v", "videogpt")

_CURVE = (
    "per frame k (rows every curve_stride frames, plus the first and last); "
    "horizon None: mean over all K frames"
)
_LPIPS = "LPIPS v0.1 alex (evals.metrics.LPIPS, RGB in [-1, 1])"


def running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """float64 (T,): mean of ``values[max(0, t - window + 1) : t + 1]`` for every t (trailing window)."""
    x = np.asarray(values, np.float64)
    c = np.concatenate([[0.0], np.cumsum(x)])
    t = np.arange(1, len(x) + 1)
    lo = np.maximum(0, t - window)
    return (c[t] - c[lo]) / (t - lo)


def collapse_horizon(
    model: np.ndarray, baseline: np.ndarray, window: int, lower_is_better: bool
) -> int | None:
    """The first frame (1-based) whose trailing running mean of ``model`` is worse than ``baseline``'s.

    Args:
        model: float (K,) the prediction's per-frame metric against the truth.
        baseline: float (K,) the baseline's per-frame metric against the truth.
        window: frames of the trailing running mean (the first frames use the frames so far).
        lower_is_better: True for LPIPS (worse = larger), False for PSNR (worse = smaller).

    Returns:
        The frame index, or None when the model is never worse (no collapse).
    """
    m, b = running_mean(model, window), running_mean(baseline, window)
    worse = m > b if lower_is_better else m < b
    hits = np.flatnonzero(worse)
    return int(hits[0]) + 1 if len(hits) else None


def curve_indices(horizon: int, stride: int) -> list[int]:
    """1-based frame indices of the curve rows: 1, every ``stride``-th frame, and the last."""
    return sorted({1, horizon, *range(stride, horizon + 1, stride)})


def fvd_buckets(horizon: int, clip: int) -> list[tuple[int, int]]:
    """Horizon buckets ``(start, end]`` in frames: (0, 2c], (2c, 4c], (4c, 8c], ... within ``horizon``.

    The last bucket is cut at the horizon; a bucket holds ``(end - start) // clip`` non-overlapping
    windows (starting at ``start``), and buckets without a whole window are dropped.
    """
    out, start, end = [], 0, 2 * clip
    while start + clip <= horizon:
        out.append((start, min(end, horizon)))
        start, end = end, 2 * end
    return out


class LongRangeCoherence(Probe):
    """Scripted exploration far past the training context; per-frame quality, drift, collapse and FVD.

    Args:
        horizon: K, frames each case predicts (default 512; tests use fewer).
        policies: scripted policies of ``envs.voxel.policies``, one case per policy and world.
        context_frames: C, real frames the predictor starts from (the reset frame + C - 1 policy
            steps).
        curve_stride: keep one per-frame row every this many frames (metrics use every frame).
        collapse_window: frames of the running mean of the collapse rule.
        sharpness_window: frames of the trailing window of ``sharpness_drift`` rows.
        fvd_clip_length: frames per FVD clip (>= 9, I3D's minimum; the presets use 16).
        fvd_protocol: ``"stylegan_v"`` or ``"videogpt"`` (``evals.metrics.FVD``).
        fvd_weights_dir: directory searched first for the I3D weights.

    Raises:
        ValueError: an option out of range or an unknown policy/protocol (names the valid ones).
    """

    supported_envs = VOXEL_ENVS

    name = "coherence"
    metrics = {
        "psnr": MetricSpec(f"PSNR vs the true frame, {F.PSNR_PROTOCOL}; {_CURVE}", True, "dB"),
        "ssim": MetricSpec(f"SSIM vs the true frame, {F.SSIM_PROTOCOL}; {_CURVE}", True),
        "lpips": MetricSpec(f"{_LPIPS} vs the true frame; {_CURVE}; NaN when unavailable (note)", False),
        "sharpness_drift": MetricSpec(
            "|log2((mean sharpness of the predicted frames + 1e-6) / (mean sharpness of the true frames "
            "+ 1e-6))| over the trailing sharpness_window frames (default 8) ending at frame k; horizon "
            f"None: over all K frames. Sharpness: {F.SHARPNESS_PROTOCOL}. 0 = as sharp as the truth, "
            "1 = half (blur) or twice (noise) as sharp",
            False,
        ),
        "sharpness_log2_ratio": MetricSpec(
            "signed log2((mean sharpness of the predicted frames + 1e-6) / (mean sharpness of the true "
            "frames + 1e-6)) over the same windows as sharpness_drift: < 0 blurrier than the truth, "
            "> 0 sharper or noisier (no better direction: read sharpness_drift for a score)",
            None,
        ),
        "colour_mean_drift": MetricSpec(
            "Euclidean distance between the predicted and true per-frame RGB means (frames in [0, 1], "
            f"frames.colour_stats); {_CURVE}",
            False,
        ),
        "colour_std_drift": MetricSpec(
            "Euclidean distance between the predicted and true per-frame RGB standard deviations "
            f"(frames in [0, 1], frames.colour_stats); {_CURVE}",
            False,
        ),
        "collapse_horizon": MetricSpec(
            "first frame k (1-based) where the trailing running mean over collapse_window frames "
            "(default 8; frames so far for k < window) of the prediction's per-frame LPIPS v0.1 alex "
            "vs the truth exceeds the same running mean of the copy-last-context-frame baseline's "
            "LPIPS vs the truth (PSNR below the baseline's when LPIPS is unavailable; the note says "
            "which); K when it never is (note 'no collapse')",
            True,
            "frames",
        ),
        "fvd": MetricSpec(
            "FVD (evals.metrics.FVD, stylegan_v protocol by default: I3D Kinetics-400 TorchScript, "
            "rescale + resize to 224, 400 logits as features, covariance ddof=0, scipy sqrtm) between "
            "the true and the predicted fvd_clip_length-frame clips (default 16) of the horizon "
            "bucket (previous edge, k] with edges 0, 2c, 4c, 8c, ... frames, POOLED over all cases of "
            "the probe (case 'pooled', world_seed -1) and all non-overlapping windows in the bucket; "
            "far fewer clips than fvd2048: biased upward, not comparable to published FVD; NaN with "
            "the reason when the I3D weights are missing",
            False,
        ),
    }

    def __init__(
        self,
        horizon: int = 512,
        policies: Sequence[str] = DEFAULT_POLICIES,
        context_frames: int = 8,
        curve_stride: int = 8,
        collapse_window: int = 8,
        sharpness_window: int = 8,
        fvd_clip_length: int = 16,
        fvd_protocol: str = "stylegan_v",
        fvd_weights_dir: str | None = None,
    ) -> None:
        from envs.voxel.policies import POLICIES

        for key, value in (
            ("horizon", horizon),
            ("context_frames", context_frames),
            ("curve_stride", curve_stride),
            ("collapse_window", collapse_window),
            ("sharpness_window", sharpness_window),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be an int >= 1, got {value!r}")
        if not isinstance(fvd_clip_length, int) or fvd_clip_length < 9:
            raise ValueError(f"fvd_clip_length must be an int >= 9 (I3D's minimum), got {fvd_clip_length!r}")
        if fvd_protocol not in FVD_PROTOCOLS:
            raise ValueError(f"unknown fvd_protocol {fvd_protocol!r}; valid: {', '.join(FVD_PROTOCOLS)}")
        policies = (policies,) if isinstance(policies, str) else tuple(policies)
        unknown = [p for p in policies if p not in POLICIES]
        if not policies or unknown:
            raise ValueError(f"unknown policies {unknown or '(none given)'}; valid: {', '.join(POLICIES)}")
        self.horizon, self.policies, self.context_frames = horizon, policies, context_frames
        self.curve_stride, self.collapse_window, self.sharpness_window = (
            curve_stride,
            collapse_window,
            sharpness_window,
        )
        self.fvd_clip_length, self.fvd_protocol, self.fvd_weights_dir = (
            fvd_clip_length,
            fvd_protocol,
            fvd_weights_dir,
        )
        self._fvd: Any = None
        self._fvd_unavailable = ""
        self._baseline_cache: dict[tuple[str, str], np.ndarray] = {}
        self._real_features: dict[tuple[str, int], torch.Tensor] = {}

    # ------------------------------------------------------------------------------------- cases

    def cases(self, env: ProbeEnv, world_seeds: Sequence[int]) -> list[Case]:
        """One case per (world, policy): the policy's recorded actions, split into context and future."""
        out = []
        for world_seed in world_seeds:
            for policy in self.policies:
                acts = record_policy(env, int(world_seed), policy, self.context_frames - 1 + self.horizon)
                out.append(
                    Case(
                        probe=self.name,
                        name=policy,
                        world_seed=int(world_seed),
                        context_actions=acts[: self.context_frames - 1],
                        actions=acts[self.context_frames - 1 :],
                        params={
                            "policy": policy,
                            "horizon": self.horizon,
                            "context_frames": self.context_frames,
                        },
                    )
                )
        return out

    # ------------------------------------------------------------------------------------- score

    def score(
        self, cases: Sequence[Case], predictions: Sequence[np.ndarray], seed: int, ctx: ProbeContext
    ) -> ProbeOutput:
        """Per-case curves and summaries, then FVD pooled over all ``cases`` per horizon bucket."""
        out = ProbeOutput()
        truths = []
        for case, pred in zip(cases, predictions):
            truth = ctx.truth(case)
            real = truth.future_frames
            pred = np.asarray(pred)
            if pred.shape != real.shape or pred.dtype != np.uint8:
                raise ValueError(
                    f"{case.key}: prediction must be uint8 {real.shape}, got {pred.dtype} {pred.shape}"
                )
            truths.append(truth)
            out.rows += self._case_rows(case, pred, truth.context_frames[-1], real, seed, ctx)
            if ctx.keep_media:
                step = max(1, -(-case.horizon // 256))
                out.media.append(
                    Media(
                        self.name,
                        case.name,
                        seed,
                        case.world_seed,
                        truth=real[step - 1 :: step],
                        prediction=pred[step - 1 :: step],
                        caption=(
                            f"{case.params.get('policy')} policy, {case.horizon} frames past a "
                            f"{case.context_length}-frame context (every {step}. frame): does the "
                            "prediction stay sharp, keep its colours and follow the truth, or drift "
                            "into blur, a colour cast or a frozen/unrelated scene?"
                        ),
                    )
                )
        out.rows += self._fvd_rows(cases, predictions, truths, seed)
        return out

    def _case_rows(
        self,
        case: Case,
        pred: np.ndarray,
        last_context: np.ndarray,
        real: np.ndarray,
        seed: int,
        ctx: ProbeContext,
    ) -> list[Row]:
        K = case.horizon
        ks = curve_indices(K, self.curve_stride)
        rows: list[Row] = []

        def add(metric: str, values: np.ndarray | None, summary: float, note: str = "") -> None:
            for k in ks:
                value = float("nan") if values is None else float(values[k - 1])
                rows.append(self._row(case, metric, value, seed, horizon=k, note=note))
            rows.append(self._row(case, metric, summary, seed, note=note))

        psnr = F.psnr(pred, real)
        add("psnr", psnr, float(psnr.mean()))
        ssim = F.ssim(pred, real)
        add("ssim", ssim, float(ssim.mean()))
        lpips = ctx.scorer.lpips(pred, real) if ctx.scorer.lpips_available else None
        if lpips is None:
            add("lpips", None, float("nan"), note=ctx.scorer.lpips_unavailable)
        else:
            add("lpips", lpips, float(lpips.mean()))

        sp, st = F.sharpness(pred), F.sharpness(real)
        w = self.sharpness_window
        ratio = np.log2((running_mean(sp, w) + SHARPNESS_EPS) / (running_mean(st, w) + SHARPNESS_EPS))
        overall = float(np.log2((sp.mean() + SHARPNESS_EPS) / (st.mean() + SHARPNESS_EPS)))
        add("sharpness_drift", np.abs(ratio), abs(overall))
        add("sharpness_log2_ratio", ratio, overall)

        cp, ct = F.colour_stats(pred), F.colour_stats(real)
        mean_drift = np.linalg.norm(cp[:, :3] - ct[:, :3], axis=1)
        std_drift = np.linalg.norm(cp[:, 3:] - ct[:, 3:], axis=1)
        add("colour_mean_drift", mean_drift, float(mean_drift.mean()))
        add("colour_std_drift", std_drift, float(std_drift.mean()))

        # collapse: against copy-last-frame, computed from the truth (cached: same for every predictor)
        if lpips is not None:
            base = self._baseline(case, "lpips", last_context, real, ctx)
            hit, used = collapse_horizon(lpips, base, self.collapse_window, lower_is_better=True), "LPIPS"
        else:
            base = self._baseline(case, "psnr", last_context, real, ctx)
            hit = collapse_horizon(psnr, base, self.collapse_window, lower_is_better=False)
            used = f"PSNR ({ctx.scorer.lpips_unavailable})"
        note = f"measured on {used} vs copy-last-frame, running mean over {self.collapse_window} frames"
        if hit is None:
            note = "no collapse; " + note
        rows.append(self._row(case, "collapse_horizon", float(K if hit is None else hit), seed, note=note))
        return rows

    def _baseline(
        self, case: Case, metric: str, last_context: np.ndarray, real: np.ndarray, ctx: ProbeContext
    ) -> np.ndarray:
        key = (case.digest(), metric)
        if key not in self._baseline_cache:
            copy = np.repeat(last_context[None], len(real), axis=0)
            self._baseline_cache[key] = (
                ctx.scorer.lpips(copy, real) if metric == "lpips" else F.psnr(copy, real)
            )
        return self._baseline_cache[key]

    def _row(
        self, case: Case, metric: str, value: float, seed: int, horizon: int | None = None, note: str = ""
    ) -> Row:
        return Row(
            probe=self.name,
            case=case.name,
            metric=metric,
            value=value,
            seed=seed,
            world_seed=case.world_seed,
            horizon=horizon,
            params=dict(case.params),
            note=note,
        )

    # --------------------------------------------------------------------------------------- FVD

    def load_fvd(self) -> Any:
        """The FVD metric (``evals.metrics.FVD``) of this probe's protocol, built once.

        Raises:
            MetricUnavailable: the I3D weights are missing.
        """
        from evals.metrics.fvd import FVD

        return FVD(
            self.fvd_protocol,
            clip_length=self.fvd_clip_length,
            weights_dir=self.fvd_weights_dir,
            reference_num_clips=2048,
        )

    def _fvd_metric(self) -> Any:
        if self._fvd is None and not self._fvd_unavailable:
            try:
                self._fvd = self.load_fvd()
            except MetricUnavailable as err:
                self._fvd_unavailable = f"{err.reason}; fix: {err.fix}"
        return self._fvd

    def _fvd_rows(
        self, cases: Sequence[Case], predictions: Sequence[np.ndarray], truths: Sequence[Any], seed: int
    ) -> list[Row]:
        c = self.fvd_clip_length
        pools: dict[tuple[int, int], list[tuple[int, int]]] = {}  # bucket -> (case index, window start)
        for i, case in enumerate(cases):
            for start, end in fvd_buckets(case.horizon, c):
                pools.setdefault((start, end), []).extend((i, s) for s in range(start, end - c + 1, c))
        if not pools:
            return []
        metric = self._fvd_metric()
        rows = []
        for (start, end), windows in sorted(pools.items()):
            n = len(windows)
            params = {
                "bucket": [start + 1, end],
                "clip_length": c,
                "clips_per_set": n,
                "cases": sorted({cases[i].key for i, _ in windows}),
            }
            value, note = float("nan"), ""
            if metric is None:
                note = self._fvd_unavailable
            elif n < 2:
                note = f"FVD needs at least 2 clips per set, the bucket has {n}"
            else:
                value = self._fvd_value(metric, cases, predictions, truths, windows)
                note = f"{n} clips per set, pooled over cases and windows (fewer than 2048: biased upward)"
            rows.append(
                Row(
                    self.name,
                    "pooled",
                    "fvd",
                    value,
                    seed,
                    world_seed=-1,
                    horizon=end,
                    params=params,
                    note=note,
                )
            )
        return rows

    def _fvd_value(
        self,
        metric: Any,
        cases: Sequence[Case],
        predictions: Sequence[np.ndarray],
        truths: Sequence[Any],
        windows: list[tuple[int, int]],
    ) -> float:
        from evals.metrics.frechet import frechet_distance, gaussian_from_sums

        c = self.fvd_clip_length
        real, gen = [], []
        for i, s in windows:
            key = (cases[i].digest(), s)
            if key not in self._real_features:  # the truth's features do not depend on the predictor
                clip = torch.from_numpy(np.ascontiguousarray(truths[i].future_frames[None, s : s + c]))
                self._real_features[key] = metric.extract_features(clip)[0]
            real.append(self._real_features[key])
        for s0 in range(0, len(windows), metric.batch_size):
            part = windows[s0 : s0 + metric.batch_size]
            clips = np.stack([predictions[i][s : s + c] for i, s in part])
            gen.append(metric.extract_features(torch.from_numpy(clips)))
        ddof = metric.protocol.ddof
        stats = []
        for feats in (torch.stack(real), torch.cat(gen)):
            feats = feats.double()
            stats.append(gaussian_from_sums(feats.sum(0), feats.T @ feats, len(feats), ddof))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(frechet_distance(stats[0][0], stats[0][1], stats[1][0], stats[1][1]))


def record_policy(env_spec: ProbeEnv, world_seed: int, policy: str, steps: int) -> list[dict[str, Any]]:
    """Play a scripted voxel policy for ``steps`` steps in the real env and return its actions.

    The env is reset exactly as ``run_truth`` resets it, and the policy is seeded from
    ``(world_seed, policy)``, so replaying the actions reproduces the run.

    Raises:
        ValueError: the env is not a voxel world (scripted policies read ``env.unwrapped.world``).
    """
    from envs.voxel.policies import make_policy

    env = env_spec.make()
    try:
        env.reset(seed=world_seed, options={"world_seed": world_seed, "scenario": None})
        world = getattr(env.unwrapped, "world", None)
        if world is None:
            raise ValueError(
                f"the coherence probe drives scripted voxel policies, which read env.unwrapped.world; "
                f"{env_spec.id} has none"
            )
        agent = make_policy(policy)
        agent.reset(world, np.random.default_rng(stable_seed("coherence", policy, world_seed)))
        actions = []
        for _ in range(steps):
            action = agent.act(world)
            actions.append(action)
            env.step(action)
    finally:
        env.close()
    return actions
