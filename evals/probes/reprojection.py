"""Reprojection probe: each true frame warped into the next true pose with the true depth, compared
with the predicted frame on co-visible pixels (maths in ``evals.probes.geometry``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from envs.registration import DOOM_IDS
from envs.vizdoom.env import DEPTH_UNITS_PER_LEVEL
from evals.probes import geometry as G
from evals.probes.base import VOXEL_ENVS, Case, MetricSpec, ProbeContext, Row, Truth
from evals.probes.consistency import (
    LPIPS_PROTOCOL,
    MOTIONS,
    _check,
    _check_motion_options,
    _lpips,
    _missing,
    _MotionProbe,
    _summary,
    rigid_pixels,
)
from evals.probes.frames import PSNR_PROTOCOL


class Reprojection(_MotionProbe):
    """Predicted frames against the previous true frame warped into the new true pose.

    For each step k the true frame k-1 (the last context frame for k = 1) is backward-warped into
    the true pose of frame k with the true depths and intrinsics (``geometry.warp_to_view``,
    bilinear sampling); the co-visible mask keeps target pixels that are not sky, of the rigid
    scene in both frames (``consistency.rigid_pixels``: no mob; on Doom, no labelled sprite), in
    front of and inside the source view, and not occluded there (depth agreement within
    ``depth_tolerance``, relative). The predicted frame k
    is compared with the warp on that mask; the true frame k against the same warp gives the
    reference level of the warp itself (``warp_self_*``: what a perfect predictor gets).

    Args:
        horizon: frames per case.
        turn_step_deg: yaw per step of the "turn" and "arc" motions.
        motions: subset of ("turn", "arc", "forward").
        context_frames: still frames of context.
        depth_tolerance: relative depth agreement for co-visibility.

    On ViZDoom (``simworld/Doom-*``) the same motions run in the scenario's map as it is, facing its
    most open heading (``consistency.motion_cases``), with the game's true pose, K and depth. The
    pitch stays 0, where Doom's K is exact; the depth is the 8-bit buffer × 7.5 units (3% median
    error, steps of 7.5 units), so co-visibility allows one step of 7.5 units beyond
    ``depth_tolerance`` and ``warp_self_*`` is below the voxel world's on forward motion.
    """

    supported_envs = (*VOXEL_ENVS, *DOOM_IDS)

    name = "reprojection"
    caption = "what stays in view should move with the camera as the true depth and motion move it"
    _WARP = (
        "the true frame k-1 backward-warped (bilinear) into the true pose of frame k with the true depth "
        "and K, over the co-visible mask (finite depth, no mob, in front and inside the source, depth "
        "agreement within depth_tolerance)"
    )
    metrics = {
        "masked_psnr": MetricSpec(
            f"PSNR of the predicted frame k vs {_WARP}, " + PSNR_PROTOCOL + "; horizon None: mean over steps",
            True,
            "dB",
        ),
        "warp_self_psnr": MetricSpec(
            f"reference: PSNR of the TRUE frame k vs {_WARP}, " + PSNR_PROTOCOL + "; horizon None: mean",
            True,
            "dB",
        ),
        "masked_lpips": MetricSpec(
            f"mean over the mask of the LPIPS spatial map between the predicted frame k and {_WARP}, "
            "the warp completed outside the mask with the predicted frame's own pixels; "
            + LPIPS_PROTOCOL
            + "; horizon None: mean",
            False,
        ),
        "warp_self_lpips": MetricSpec(
            "reference: masked LPIPS as masked_lpips with the TRUE frame k in place of the prediction; "
            + LPIPS_PROTOCOL,
            False,
        ),
        "covisible_fraction": MetricSpec(
            "fraction of the frame's pixels in the co-visible mask of step k (a property of the case); "
            "horizon None: mean",
            None,
        ),
    }

    def __init__(
        self,
        horizon: int = 12,
        turn_step_deg: float = 5.0,
        motions: Sequence[str] = MOTIONS,
        context_frames: int = 4,
        depth_tolerance: float = 0.05,
    ) -> None:
        _check_motion_options(motions, horizon, turn_step_deg, context_frames)
        _check(0 < depth_tolerance < 1, f"depth_tolerance must be in (0, 1), got {depth_tolerance}")
        self.horizon, self.turn_step_deg = int(horizon), float(turn_step_deg)
        self.motions = tuple(m for m in MOTIONS if m in motions)
        self.context_frames, self.depth_tolerance = int(context_frames), float(depth_tolerance)

    def warps(self, truth: Truth, env_id: str = VOXEL_ENVS[0]) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (K, H, W, 3) warped true frames and bool (K, H, W) co-visible masks of a truth's future
        (``env_id`` says which pixels are rigid: ``consistency.rigid_pixels``)."""
        C, T = truth.context_length, len(truth.frames)
        seg = None if truth.segmentation is None else rigid_pixels(truth.segmentation, env_id)
        warped, masks = [], []
        for t in range(C, T):
            s = t - 1
            w, m = G.warp_to_view(
                truth.frames[s],
                truth.depth[s],
                truth.depth[t],
                truth.pose[s],
                truth.pose[t],
                truth.intrinsics,
                self.depth_tolerance,
                source_valid=None if seg is None else seg[s],
                target_valid=None if seg is None else seg[t],
                depth_slack=0.0 if env_id in VOXEL_ENVS else DEPTH_UNITS_PER_LEVEL,
            )
            warped.append(w)
            masks.append(m)
        return np.stack(warped), np.stack(masks)

    def case_rows(
        self, case: Case, pred: np.ndarray, truth: Truth, seed: int, ctx: ProbeContext
    ) -> list[Row]:
        missing = _missing(truth, ("pose", "intrinsics", "depth"))
        if missing:
            return [self._row(case, seed, m, math.nan, None, missing) for m in self.metrics]
        warped, masks = self.warps(truth, ctx.env.id)
        future = truth.future_frames
        empty = ~masks.reshape(len(masks), -1).any(axis=1)
        values = {
            "masked_psnr": ctx.scorer.psnr(pred, warped, masks),
            "warp_self_psnr": ctx.scorer.psnr(future, warped, masks),
            "covisible_fraction": masks.reshape(len(masks), -1).mean(axis=1),
        }
        m3 = masks[..., None]
        values["masked_lpips"], lp_note = _lpips(ctx, pred, np.where(m3, warped, pred), masks)
        values["warp_self_lpips"], _ = _lpips(ctx, future, np.where(m3, warped, future), masks)
        rows = []
        for metric, v in values.items():
            notes = []
            for k in range(case.horizon):
                note = "no co-visible pixels" if empty[k] and metric != "covisible_fraction" else ""
                notes.append(note or (lp_note if "lpips" in metric else ""))
                rows.append(self._row(case, seed, metric, v[k], k + 1, notes[-1]))
            value, note = _summary(v, notes)
            rows.append(self._row(case, seed, metric, value, None, note))
        return rows
