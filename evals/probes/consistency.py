"""3D-consistency probes: loop closure, two-view geometry and depth reprojection (issue #8).

- ``LoopClosure`` turns the agent 360° in place, or walks it A→B→A, and compares the frame
  generated back at A with the truth, with the context frame the predictor was shown at A, and
  with the frame the predictor itself generated at A before leaving (revisit consistency as in
  WorldMem / LoopNav).
- ``Geometry`` matches keypoints between predicted frames, estimates their relative pose with the
  known intrinsics and reports the Sampson epipolar error under the TRUE motion and the rotation /
  translation-direction errors of the estimated motion (as Cosmos and WorldScore do).
- ``Reprojection`` warps each true frame into the next true pose with the true depth and compares
  the predicted frame with it on the co-visible pixels.

Camera conventions and the two-view maths live in ``evals.probes.geometry``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from evals.probes import geometry as G
from evals.probes.base import Case, Media, MetricSpec, Probe, ProbeContext, ProbeEnv, ProbeOutput, Row, Truth
from evals.probes.frames import PSNR_PROTOCOL
from evals.probes.scenarios import Arena, action, in_arena, repeat

LPIPS_PROTOCOL = "LPIPS v0.1 (alex), RGB in [-1, 1] (evals.probes.frames)"
MIN_TRANSLATION = 0.02
"""Blocks: a true camera translation shorter than this counts as none (pure rotation)."""
MOB_SEGMENTATION = 1000
"""Segmentation ids from this up are mobs (``envs.voxel.render.ENTITY_SEG_OFFSET``)."""
SETTLE_STEPS = 16
"""Steps without walking after each leg of the A→B→A walk (the turn, then still steps): the slide
left after walking shrinks to ~1e-5 blocks, so the true revisit pose is A."""
MOTIONS = ("turn", "arc", "forward")
"""Camera motions of the geometry and reprojection cases."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _lpips(ctx: ProbeContext, a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None):
    """LPIPS per frame (masked when ``mask`` is given), or NaNs and the reason."""
    if not ctx.scorer.lpips_available:
        return np.full(len(a), np.nan), ctx.scorer.lpips_unavailable
    if min(a.shape[1:3]) < 16:
        return np.full(len(a), np.nan), f"LPIPS needs frames of at least 16×16, got {a.shape[1]}×{a.shape[2]}"
    if mask is None:
        return ctx.scorer.lpips(a, b), ""
    return ctx.scorer.masked_lpips(a, b, mask), ""


# ------------------------------------------------------------------------------------ scenes


def landmark_scene(world: Any, a: Arena) -> None:
    """Distinctive structures on every side of the arena centre (none on the walk line x = centre).

    Wool, log, plank and stone pillars of different heights, so every yaw and both ends of the
    A→B→A walk see something that identifies the view.
    """
    pillars = [  # (dx, dz, height, block): +z ahead, -x right, +x left at yaw 0; the walk keeps to dx = 0
        (0, 6, 3, "red_wool"),
        (-4, 2, 2, "blue_wool"),
        (-4, 3, 1, "blue_wool"),
        (4, -2, 4, "magenta_wool"),
        (1, -5, 2, "yellow_wool"),
        (-1, -5, 3, "yellow_wool"),
        (3, 4, 3, "log"),
        (-3, -4, 2, "planks"),
        (-3, 5, 1, "stone"),
        (4, -4, 2, "stone"),
    ]
    for dx, dz, h, name in pillars:
        world.fill(a.cell(dx, dz, 1), a.cell(dx, dz, h), name)


_WALL_BLOCKS = ("planks", "stone", "red_wool", "blue_wool", "yellow_wool", "magenta_wool", "log")


def textured_scene(world: Any, a: Arena) -> None:
    """A wall of randomly mixed blocks ahead and to the right, pillars at several depths, a still pig.

    Mixed neighbouring blocks give distinctive corners for keypoints; the pillars give depth
    variation (a single plane is a degenerate scene for relative pose); the pig, standing still,
    exercises the reprojection's mob mask. The pattern is a function of the world seed.
    """
    rng = np.random.default_rng([world.seed, 0xC0515])
    wall = [(dx, 7) for dx in range(-9, 7)] + [(-9, dz) for dz in range(-1, 7)]
    for dx, dz in wall:
        for dy in range(1, 5):
            world.set_block(*a.cell(dx, dz, dy), str(rng.choice(_WALL_BLOCKS)))
    for dx, dz, h, name in [
        (-3, 4, 3, "log"),
        (3, 5, 2, "stone"),
        (5, 3, 3, "red_wool"),
        (-6, 2, 2, "blue_wool"),
    ]:
        world.fill(a.cell(dx, dz, 1), a.cell(dx, dz, h), name)
    world.spawn_mob("pig", (a.cx + 2.5, float(a.floor + 1), a.cz + 6.0), heading=180.0, wander=False)


def _still(n: int) -> list[dict[str, Any]]:
    return repeat(action(), n)


class _CaseProbe(Probe):
    """A probe scored case by case: ``case_rows`` per case, one ``Media`` per case with ``caption``."""

    caption: ClassVar[str] = ""

    def score(
        self, cases: Sequence[Case], predictions: Sequence[np.ndarray], seed: int, ctx: ProbeContext
    ) -> ProbeOutput:
        out = ProbeOutput()
        for case, pred in zip(cases, predictions):
            truth, pred = ctx.truth(case), np.asarray(pred)
            out.rows += self.case_rows(case, pred, truth, seed, ctx)
            if ctx.keep_media:
                caption = f"{case.name}: {self.caption}"
                out.media.append(
                    Media(self.name, case.name, seed, case.world_seed, truth.future_frames, pred, caption)
                )
        self.check_rows(out.rows)
        return out

    def case_rows(
        self, case: Case, pred: np.ndarray, truth: Truth, seed: int, ctx: ProbeContext
    ) -> list[Row]:
        """The rows of one case: ``pred`` uint8 (K, H, W, 3) against ``truth``."""
        raise NotImplementedError

    def _row(self, case: Case, seed: int, metric: str, value: float, horizon=None, note: str = "") -> Row:
        return Row(
            probe=self.name,
            case=case.name,
            metric=metric,
            value=float(value),
            seed=seed,
            world_seed=case.world_seed,
            horizon=horizon,
            params=dict(case.params),
            note=note,
        )


# ------------------------------------------------------------------------------- loop closure


class LoopClosure(_CaseProbe):
    """Revisit consistency: turn 360° in place, or walk A→B→A, and compare the revisit of A.

    Cases (per world seed), in an arena with ``landmark_scene``:

    - ``rotate_360``: ``hold_frames`` still steps, then ``360 / turn_step_deg`` turns of
      ``+turn_step_deg`` yaw: the last frame looks exactly where the context ended.
    - ``walk_aba``: ``hold_frames`` still steps, ``walk_steps`` forward, a 180° turn in
      ``turn_step_deg`` steps (then still steps up to ``SETTLE_STEPS`` without walking, so the
      slide stops), ``walk_steps`` forward, the same turn and stop: the last frame is back at A
      facing the same way (an offset of the true revisit pose above 0.001 blocks is recorded in
      the revisit rows' notes).

    The context is ``context_frames`` frames standing at A. The revisit frame is the last future
    frame (horizon K). The predictor's own first visit of A is its frame ``hold_frames`` (the last
    it generated before the agent moved); with ``hold_frames=0`` there is none and the
    ``revisit_self_*`` rows are NaN with a note.

    Args:
        turn_step_deg: yaw per turning step; 180 must be a multiple of it.
        walk_steps: forward steps of each leg of the walk.
        context_frames: frames of context (>= 1).
        hold_frames: still frames generated at A before moving (>= 0).
        cases: which of "rotate_360", "walk_aba" to run.
    """

    name = "loop_closure"
    CASES = ("rotate_360", "walk_aba")
    caption = (
        "the last frame is back at the first frame's pose before moving: the landmarks should reappear "
        "where they were"
    )
    metrics = {
        "psnr": MetricSpec(
            "per-frame PSNR of the predicted frame vs the true frame at each horizon, " + PSNR_PROTOCOL,
            True,
            "dB",
        ),
        "lpips": MetricSpec("per-frame LPIPS of the predicted vs the true frame, " + LPIPS_PROTOCOL, False),
        "revisit_psnr": MetricSpec(
            "PSNR of the predicted revisit frame (last frame, back at the context's final pose) vs the true "
            "revisit frame, " + PSNR_PROTOCOL,
            True,
            "dB",
        ),
        "revisit_lpips": MetricSpec(
            "LPIPS of the predicted revisit frame vs the true revisit frame, " + LPIPS_PROTOCOL, False
        ),
        "revisit_context_psnr": MetricSpec(
            "PSNR of the predicted revisit frame vs the last context frame (what the predictor was shown at "
            "the same pose), " + PSNR_PROTOCOL,
            True,
            "dB",
        ),
        "revisit_context_lpips": MetricSpec(
            "LPIPS of the predicted revisit frame vs the last context frame, " + LPIPS_PROTOCOL, False
        ),
        "revisit_self_psnr": MetricSpec(
            "self-consistency: PSNR of the predicted revisit frame vs the predictor's own frame at the same "
            "pose before it moved away (future frame hold_frames), " + PSNR_PROTOCOL,
            True,
            "dB",
        ),
        "revisit_self_lpips": MetricSpec(
            "self-consistency: LPIPS of the predicted revisit frame vs the predictor's own frame at the same "
            "pose before it moved away, " + LPIPS_PROTOCOL,
            False,
        ),
    }

    def __init__(
        self,
        turn_step_deg: float = 15.0,
        walk_steps: int = 12,
        context_frames: int = 4,
        hold_frames: int = 2,
        cases: Sequence[str] = CASES,
    ) -> None:
        turns = 180.0 / turn_step_deg if turn_step_deg > 0 else 0.0
        _check(
            0 < turn_step_deg <= 180 and abs(turns - round(turns)) < 1e-9,
            f"turn_step_deg must divide 180 (e.g. 5, 10, 15, 30, 45, 90), got {turn_step_deg}",
        )
        _check(
            int(walk_steps) == walk_steps and walk_steps >= 1, f"walk_steps must be >= 1, got {walk_steps}"
        )
        _check(context_frames >= 1, f"context_frames must be >= 1, got {context_frames}")
        _check(hold_frames >= 0, f"hold_frames must be >= 0, got {hold_frames}")
        unknown = sorted(set(cases) - set(self.CASES))
        _check(
            not unknown and len(cases) > 0, f"cases must be a non-empty subset of {self.CASES}, got {cases}"
        )
        self.turn_step_deg, self.walk_steps = float(turn_step_deg), int(walk_steps)
        self.context_frames, self.hold_frames = int(context_frames), int(hold_frames)
        self.case_names = tuple(c for c in self.CASES if c in cases)

    def cases(self, env: ProbeEnv, world_seeds: Sequence[int]) -> list[Case]:
        half_turn = repeat(action(yaw=self.turn_step_deg), round(180.0 / self.turn_step_deg))
        walk = repeat(action(forward=1), self.walk_steps)
        # the slide after a walk decays by ~0.55 per tick: stop it before the next leg / the revisit
        stop = half_turn + _still(max(0, SETTLE_STEPS - len(half_turn)))
        futures = {
            "rotate_360": _still(self.hold_frames) + half_turn + half_turn,
            "walk_aba": _still(self.hold_frames) + walk + stop + walk + stop,
        }
        params = {"turn_step_deg": self.turn_step_deg, "hold_frames": self.hold_frames}
        out = []
        for seed in world_seeds:
            for name in self.case_names:
                p = dict(params, walk_steps=self.walk_steps) if name == "walk_aba" else dict(params)
                out.append(
                    Case(
                        self.name,
                        name,
                        int(seed),
                        _still(self.context_frames - 1),
                        futures[name],
                        scenario=in_arena(landmark_scene),
                        params=p,
                    )
                )
        return out

    def case_rows(
        self, case: Case, pred: np.ndarray, truth: Truth, seed: int, ctx: ProbeContext
    ) -> list[Row]:
        future, K = truth.future_frames, case.horizon
        rows = []
        per_psnr = ctx.scorer.psnr(pred, future)
        per_lpips, lp_note = _lpips(ctx, pred, future)
        for k in range(K):
            rows.append(self._row(case, seed, "psnr", per_psnr[k], k + 1))
            rows.append(self._row(case, seed, "lpips", per_lpips[k], k + 1, lp_note))
        note = ""
        if truth.pose is not None:
            d = truth.pose[-1] - truth.pose[truth.context_length - 1]
            offset = float(np.linalg.norm(d[:3]))
            turn = abs((d[3] + 180.0) % 360.0 - 180.0) + abs(d[4])
            if offset > 1e-3 or turn > 1e-6:
                note = (
                    f"the true revisit pose is {offset:.3f} blocks and {turn:.2f}° away from the first visit"
                )
        revisit = pred[-1:]
        shown = truth.context_frames[-1:]
        rows.append(self._row(case, seed, "revisit_psnr", per_psnr[-1], None, note))
        rows.append(self._row(case, seed, "revisit_lpips", per_lpips[-1], None, lp_note or note))
        lp, lp_note2 = _lpips(ctx, revisit, shown)
        rows.append(self._row(case, seed, "revisit_context_psnr", ctx.scorer.psnr(revisit, shown)[0]))
        rows.append(self._row(case, seed, "revisit_context_lpips", lp[0], None, lp_note2))
        if self.hold_frames == 0:
            why = "no generated first visit (hold_frames=0)"
            rows.append(self._row(case, seed, "revisit_self_psnr", math.nan, None, why))
            rows.append(self._row(case, seed, "revisit_self_lpips", math.nan, None, why))
        else:
            first = pred[self.hold_frames - 1 : self.hold_frames]
            lp, lp_note3 = _lpips(ctx, revisit, first)
            rows.append(self._row(case, seed, "revisit_self_psnr", ctx.scorer.psnr(revisit, first)[0]))
            rows.append(self._row(case, seed, "revisit_self_lpips", lp[0], None, lp_note3))
        return rows


# ---------------------------------------------------------------------------- motion cases


def motion_cases(
    probe: str,
    world_seeds: Sequence[int],
    motions: Sequence[str],
    horizon: int,
    turn_step_deg: float,
    context_frames: int,
) -> list[Case]:
    """Cases of known camera motion in front of ``textured_scene``.

    Motions: "turn" (``+turn_step_deg`` yaw per step, a pure rotation), "arc" (forward and
    ``+turn_step_deg`` yaw per step), "forward" (forward only). The context is ``context_frames``
    still frames.
    """
    acts = {
        "turn": action(yaw=turn_step_deg),
        "arc": action(forward=1, yaw=turn_step_deg),
        "forward": action(forward=1),
    }
    return [
        Case(
            probe,
            m,
            int(seed),
            _still(context_frames - 1),
            repeat(acts[m], horizon),
            scenario=in_arena(textured_scene),
            params={"turn_step_deg": 0.0 if m == "forward" else turn_step_deg},
        )
        for seed in world_seeds
        for m in motions
    ]


def _check_motion_options(
    motions: Sequence[str], horizon: int, turn_step_deg: float, context_frames: int
) -> None:
    unknown = sorted(set(motions) - set(MOTIONS))
    _check(
        not unknown and len(motions) > 0, f"motions must be a non-empty subset of {MOTIONS}, got {motions}"
    )
    _check(int(horizon) == horizon and horizon >= 2, f"horizon must be an integer >= 2, got {horizon}")
    _check(0 < turn_step_deg <= 45, f"turn_step_deg must be in (0, 45], got {turn_step_deg}")
    _check(context_frames >= 1, f"context_frames must be >= 1, got {context_frames}")


def _missing(truth: Truth, fields: Sequence[str]) -> str:
    absent = [f for f in fields if getattr(truth, f) is None]
    return f"the env reports no {', '.join(absent)}" if absent else ""


def _summary(values: Sequence[float], notes: Sequence[str] = (), how: str = "mean") -> tuple[float, str]:
    """Mean (or median) of the finite values, and a note on the undefined ones (their commonest reason)."""
    v = np.asarray(values, np.float64)
    finite = v[np.isfinite(v)]
    why = [n for n, x in zip(notes, v) if not np.isfinite(x) and n]
    reason = f": {Counter(why).most_common(1)[0][0]}" if why else ""  # ties: the first seen
    if not len(finite):
        return math.nan, f"no step has a value{reason}"
    note = f"{len(v) - len(finite)} of {len(v)} steps undefined{reason}" if len(finite) < len(v) else ""
    return float(np.median(finite) if how == "median" else finite.mean()), note


# ---------------------------------------------------------------------------------- geometry


class Geometry(_CaseProbe):
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
    """

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

    def cases(self, env: ProbeEnv, world_seeds: Sequence[int]) -> list[Case]:
        return motion_cases(
            self.name, world_seeds, self.motions, self.horizon, self.turn_step_deg, self.context_frames
        )

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


class Reprojection(_CaseProbe):
    """Predicted frames against the previous true frame warped into the new true pose.

    For each step k the true frame k-1 (the last context frame for k = 1) is backward-warped into
    the true pose of frame k with the true depths and intrinsics (``geometry.warp_to_view``,
    bilinear sampling); the co-visible mask keeps target pixels that are not sky, not a mob
    (segmentation >= 1000, in either frame), in front of and inside the source view, and not
    occluded there (depth agreement within ``depth_tolerance``, relative). The predicted frame k
    is compared with the warp on that mask; the true frame k against the same warp gives the
    reference level of the warp itself (``warp_self_*``: what a perfect predictor gets).

    Args:
        horizon: frames per case.
        turn_step_deg: yaw per step of the "turn" and "arc" motions.
        motions: subset of ("turn", "arc", "forward").
        context_frames: still frames of context.
        depth_tolerance: relative depth agreement for co-visibility.
    """

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

    def cases(self, env: ProbeEnv, world_seeds: Sequence[int]) -> list[Case]:
        return motion_cases(
            self.name, world_seeds, self.motions, self.horizon, self.turn_step_deg, self.context_frames
        )

    def warps(self, truth: Truth) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (K, H, W, 3) warped true frames and bool (K, H, W) co-visible masks of a truth's future."""
        C, T = truth.context_length, len(truth.frames)
        seg = truth.segmentation
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
                source_valid=None if seg is None else seg[s] < MOB_SEGMENTATION,
                target_valid=None if seg is None else seg[t] < MOB_SEGMENTATION,
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
        warped, masks = self.warps(truth)
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
