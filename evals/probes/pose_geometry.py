"""Two-view geometry probe: keypoints matched between predicted frames, relative pose estimated with
the true intrinsics, errors against the true camera motion (maths in ``evals.probes.geometry``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from envs.registration import DOOM_IDS
from evals.probes import geometry as G
from evals.probes.base import VOXEL_ENVS, Case, MetricSpec, ProbeContext, Row, Truth
from evals.probes.consistency import (
    MIN_TRANSLATION,
    MOTIONS,
    _check,
    _check_motion_options,
    _missing,
    _MotionProbe,
    _summary,
)


class Geometry(_MotionProbe):
    """Two-view geometry of predicted frames against the true camera motion.

    For each pair of predicted frames (k - stride, k): keypoints (SIFT, or ORB) detected on the
    frames upsampled ``upscale`` times, matched with Lowe's ratio test; the essential matrix with
    the true intrinsics by ``cv2.findEssentialMat`` (RANSAC, ``ransac_threshold_px``) and the pose
    by ``cv2.recoverPose``. When the matches' median displacement is below 0.1 px the frames show
    no motion and the estimate is the identity rotation with no translation direction (what a
    frozen predictor gets). Per pair: the Sampson error of all matches under the TRUE relative
    pose, the rotation error, the translation-direction error, the match count and the inlier
    ratio; per case: medians over the pairs and the rate of pairs with a pose.

    Read the Sampson error beside the rotation error: identical frames satisfy the epipolar
    geometry of a pure forward translation exactly (``x^T [t]x x = 0``), so a frozen predictor
    scores 0 px on "forward" while its rotation error on "turn" and "arc" is the whole true turn.

    Args:
        detector: "auto" (SIFT when available, else ORB), "sift" or "orb".
        stride: frames between the two views of a pair.
        horizon: frames per case.
        turn_step_deg: yaw per step of the "turn" and "arc" motions.
        motions: subset of ("turn", "arc", "forward").
        context_frames: still frames of context.
        upscale: integer upsampling before keypoint detection.
        ransac_threshold_px: RANSAC inlier threshold in pixels of the frame.
        min_matches: fewer matches than this → NaN with "too few matches (n)".

    On ViZDoom (``simworld/Doom-*``) the same motions run in the scenario's map as it is, facing its
    most open heading (``consistency.motion_cases``), against the game's true pose and K (exact at
    pitch 0, where every case stays). Translations are in map units there (the player walks
    ~10-30 units per step), far above ``MIN_TRANSLATION``.
    """

    supported_envs = (*VOXEL_ENVS, *DOOM_IDS)

    name = "geometry"
    caption = "the predicted view should move exactly as the true camera does (a rigid scene, known motion)"
    _PAIR = "for each pair of predicted frames (k - stride, k), horizon k"
    _KP = "keypoints of the detector on the frame upsampled `upscale`× (bilinear), Lowe ratio 0.8"
    metrics = {
        "sampson_error": MetricSpec(
            f"{_PAIR}: median over all ratio-test matches ({_KP}) of the Sampson epipolar error "
            "(pixels) under the TRUE relative pose's fundamental matrix K^-T [t]x R K^-1; NaN when the true "
            f"translation is < {MIN_TRANSLATION} blocks (epipolar geometry undefined) or < min_matches "
            "matches; horizon None: median over pairs",
            False,
            "px",
        ),
        "rotation_error": MetricSpec(
            f"{_PAIR}: geodesic angle between the rotation of cv2.recoverPose (essential matrix by "
            "cv2.findEssentialMat, RANSAC, true K) and the true relative rotation; identity when the "
            "matches' median displacement is < 0.1 px; horizon None: median over pairs",
            False,
            "deg",
        ),
        "translation_error": MetricSpec(
            f"{_PAIR}: angle between the estimated and the true translation directions; NaN when the true "
            f"translation is < {MIN_TRANSLATION} blocks or the frames show no motion; horizon None: median "
            "over pairs",
            False,
            "deg",
        ),
        "matches": MetricSpec(
            f"{_PAIR}: number of ratio-test matches (identical frames match everything); horizon None: mean",
            None,
            "count",
        ),
        "inlier_ratio": MetricSpec(
            f"{_PAIR}: fraction of matches that are RANSAC inliers of the essential matrix; "
            "horizon None: mean",
            True,
        ),
        "pose_rate": MetricSpec(
            "fraction of pairs (k - stride, k) of predicted frames with >= min_matches matches and an "
            "estimated relative pose",
            True,
        ),
    }

    def __init__(
        self,
        detector: str = "auto",
        stride: int = 1,
        horizon: int = 12,
        turn_step_deg: float = 5.0,
        motions: Sequence[str] = MOTIONS,
        context_frames: int = 4,
        upscale: int = 2,
        ransac_threshold_px: float = 0.5,
        min_matches: int = 12,
    ) -> None:
        self.detector = G.resolve_detector(detector)
        _check_motion_options(motions, horizon, turn_step_deg, context_frames)
        _check(1 <= stride < horizon, f"stride must be in [1, horizon={horizon}), got {stride}")
        _check(
            1 <= upscale <= 8 and int(upscale) == upscale,
            f"upscale must be an integer in [1, 8], got {upscale}",
        )
        _check(ransac_threshold_px > 0, f"ransac_threshold_px must be > 0, got {ransac_threshold_px}")
        _check(min_matches >= 5, f"min_matches must be >= 5 (the five-point solver), got {min_matches}")
        self.stride, self.horizon, self.turn_step_deg = int(stride), int(horizon), float(turn_step_deg)
        self.motions = tuple(m for m in MOTIONS if m in motions)
        self.context_frames, self.upscale = int(context_frames), int(upscale)
        self.ransac_threshold_px, self.min_matches = float(ransac_threshold_px), int(min_matches)

    def pair_metrics(
        self, ka: G.Keypoints, kb: G.Keypoints, pose_a: np.ndarray, pose_b: np.ndarray, K: np.ndarray
    ) -> dict[str, tuple[float, str]]:
        """Metrics of one pair of frames: ``{metric: (value, note)}`` (see ``metrics``).

        Args:
            ka: keypoints of the first frame (``geometry.detect``).
            kb: keypoints of the second frame.
            pose_a: float (5,) true pose of the first frame.
            pose_b: float (5,) true pose of the second frame.
            K: float (3, 3) true intrinsics.
        """
        x1, x2 = G.match(ka, kb, self.detector)
        n = len(x1)
        out: dict[str, tuple[float, str]] = {"matches": (float(n), "")}
        if n < self.min_matches:
            why = f"too few matches ({n})"
            out.update(
                {
                    m: (math.nan, why)
                    for m in ("sampson_error", "rotation_error", "translation_error", "inlier_ratio")
                }
            )
            return out
        R, t = G.relative_pose(pose_a, pose_b)
        moving = float(np.linalg.norm(t)) >= MIN_TRANSLATION
        still = f"true translation negligible ({np.linalg.norm(t):.3f} < {MIN_TRANSLATION} blocks)"
        if moving:
            out["sampson_error"] = (
                float(np.median(G.sampson_error(G.fundamental_matrix(R, t, K), x1, x2))),
                "",
            )
        else:
            out["sampson_error"] = (math.nan, still + ": epipolar geometry undefined")
        est = G.estimate_pose(x1, x2, K, self.ransac_threshold_px)
        if est is None:
            why = "pose estimation failed (no essential matrix)"
            out.update({m: (math.nan, why) for m in ("rotation_error", "translation_error", "inlier_ratio")})
            return out
        out["rotation_error"] = (
            G.rotation_error_deg(est.R, R),
            "frames show no motion" if est.static else "",
        )
        out["inlier_ratio"] = (float(est.inliers.mean()), "")
        if not moving:
            out["translation_error"] = (math.nan, still)
        elif est.t is None:
            out["translation_error"] = (math.nan, "frames show no motion: translation direction undefined")
        else:
            out["translation_error"] = (G.direction_error_deg(est.t, t), "")
        return out

    def case_rows(
        self, case: Case, pred: np.ndarray, truth: Truth, seed: int, ctx: ProbeContext
    ) -> list[Row]:
        names = ("sampson_error", "rotation_error", "translation_error", "matches", "inlier_ratio")
        missing = _missing(truth, ("pose", "intrinsics"))
        H, W = pred.shape[1:3]
        if not missing and min(H, W) < G.MIN_FRAME_SIDE:
            missing = f"frames too small for keypoints ({H}×{W} < {G.MIN_FRAME_SIDE})"
        if missing:
            return [self._row(case, seed, m, math.nan, None, missing) for m in (*names, "pose_rate")]
        poses, K = truth.future("pose"), truth.intrinsics
        kps = [G.detect(f, self.detector, self.upscale) for f in pred]
        rows, per, why = [], {m: [] for m in names}, {m: [] for m in names}
        estimated = 0
        for k in range(self.stride, case.horizon):
            i = k - self.stride
            res = self.pair_metrics(kps[i], kps[k], poses[i], poses[k], K)
            estimated += bool(np.isfinite(res["rotation_error"][0]))
            for m in names:
                value, note = res[m]
                per[m].append(value)
                why[m].append(note)
                rows.append(self._row(case, seed, m, value, k + 1, note))
        for m in names:
            value, note = _summary(per[m], why[m], "mean" if m in ("matches", "inlier_ratio") else "median")
            rows.append(self._row(case, seed, m, value, None, note))
        pairs = case.horizon - self.stride
        rows.append(self._row(case, seed, "pose_rate", estimated / pairs, None, f"{estimated}/{pairs} pairs"))
        return rows


# ------------------------------------------------------------------------------ reprojection
