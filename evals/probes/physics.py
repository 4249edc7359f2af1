"""Physics failure cases: a catalogue of scripted scenes with known outcomes (issue #8).

Each case (``evals.probes.physics_cases``) is built in a flat arena: sand and gravel fall when their
support goes, other blocks do not; a wall stops the player; a ledge drops the view; a jump lands; a
placed block persists and a broken block stays broken while the view turns away and back; a no-op
keeps a static scene static; a turn and its inverse restore the view; a pillar is not walked
through; wandering mobs keep walking. Every case is scored by one of three checks, stated in the
``note`` of its ``score`` and ``pass`` rows:

- **outcome** (deterministic cases): the prediction must be closer to the true outcome than to each
  *wrong outcome* — what a world model with the physics wrong would show, rendered by the real
  renderer from the same world so that it shares the truth's context ("the sand floats", "the view
  walks on air", "nothing happens" = the last context frame repeated, ...). For a wrong outcome W,
  on the pixels D where the truth T and W differ (some channel by more than 10/255, Physics-IQ's
  motion threshold), ``margin = (e_W - e_T) / (e_W + e_T)`` with ``e_X`` the prediction's mean
  squared error to X over D (RGB in [0, 1]): +1 is the true outcome exactly, -1 the wrong one, ~0
  neither (noise). ``score = clip(min margin, 0, 1)``; **pass** when every margin is ≥ 0.5, i.e. the
  prediction's error to each wrong outcome is at least 3× its error to the truth there.
- **static** (``noop_static``): the outcome check against a slowly drifting view, and
  ``stillness``: the fraction of pixels of each predicted frame within 10/255 (every channel) of
  the previous one (the last context frame before the first). ``score = min(stillness,
  clip(margin, 0, 1))``; pass when stillness ≥ 0.9 and the margin ≥ 0.5. A blurry but still
  prediction passes; a flickering, drifting or blanked one fails.
- **physics_iq** (stochastic ``mob_moves``): Physics-IQ's metrics on motion masks — spatial IoU,
  spatiotemporal IoU, weighted spatial IoU and MSE against the truth — each normalised by its value
  between two real runs that differ only in the mobs' randomness (``ctx.truth(case, variant=1)``,
  the "physical variance"): ``score = clip(mean of min(1, IoU / IoU_take2) - (MSE - MSE_take2), 0,
  1)`` (Physics-IQ's score, ``calculate_iq_score.py``, as a fraction, with each ratio capped at 1);
  pass at ≥ 0.5. A second real run scores 1 by construction.

Every case also reports PSNR against the truth (per frame and mean) and, over its screen region
(the pixels its moving or changed blocks or mobs cover in any true future frame; the whole frame
for camera cases), masked PSNR and the motion energy of the prediction and of the truth.

The catalogue (case: its wrong outcomes besides "nothing happens"): sand_falls (the sand floats),
gravel_falls (the gravel floats), non_gravity_stays (the planks fall), wall_blocks_motion (walks
over the wall; its truth is static, so no "nothing happens"), no_pass_through (passes through the
pillar), ledge_fall (walks on air), jump_lands (never lands), jump_onto_step (blocked by the step),
placed_block_persists (vanished), broken_block_stays_broken (restored), noop_static (the view
drifts), rotate_restores (the turn is not undone), mob_moves (Physics-IQ). Validated on the
baselines (``tests/evals/probes/test_physics.py``): the simulator passes every case with score 1;
copy-last-frame passes exactly the two cases whose truth is static (noop_static,
wall_blocks_motion) and fails the rest; noise, and each wrong outcome itself, fail every case.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import cv2
import numpy as np

from envs.voxel.blocks import BLOCK_IDS
from envs.voxel.render import ENTITY_SEG_OFFSET
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
    Truth,
)
from evals.probes.physics_cases import STATIC, PhysicsCase, Wrong, catalogue, render_wrong, require_voxel
from evals.probes.scenarios import in_arena

DIFF_THRESHOLD = 10
"""Pixels differ when some channel differs by more than this, on 0..255 (Physics-IQ's motion threshold)."""
OUTCOME_PASS_MARGIN = 0.5
"""Pass when every margin is at least this (error to each wrong outcome ≥ 3× the error to the truth)."""
STILLNESS_PASS = 0.9
"""Static check: pass when at least this fraction of predicted pixels stays still."""
PHYSICS_IQ_PASS = 0.5
"""Physics-IQ check: pass when the normalised score is at least this."""
CHECKS = ("outcome", "static", "physics_iq")

_MARGIN = (
    "outcome margin (e_W - e_T) / (e_W + e_T) against the wrong outcome W {which}: e_X is the mean, over "
    "the pixels of the K frames where the truth T and W differ (some channel by > 10/255), of the "
    "squared RGB error in [0, 1] to X; +1 = the true outcome, -1 = the wrong one, ~0 = neither"
)
_PIQ = (
    "Physics-IQ {what} between the motion masks of {who} and of the truth; masks of the K frames: grey "
    "(OpenCV), running-average background from the last context frame (accumulateWeighted, α=0.3), "
    "|grey - background| > 10 on 0..255; Physics-IQ's 5-px blur and open/close kernels are left out "
    "(sized for full-resolution video, they erase the objects of 32-256 px frames); empty masks on "
    "both sides count as IoU 1; physics_iq cases only"
)
_REGION = (
    "the case's screen region (the pixels its moving or changed blocks or mobs cover in any true future "
    "frame, from the true segmentation; the whole frame for camera cases; NaN when empty at this size)"
)
_PIQ_METRICS = ("spatial_iou", "spatiotemporal_iou", "weighted_spatial_iou", "mse")


def _metrics() -> dict[str, MetricSpec]:
    m = {
        "score": MetricSpec(
            "the case's check score in [0, 1], 1 = as the truth: outcome clip(min margin, 0, 1); static "
            "min(stillness, clip(margin, 0, 1)); physics_iq clip(mean min(1, IoU/IoU_take2) - (MSE - "
            "MSE_take2), 0, 1); the note states the case's check",
            True,
        ),
        "pass": MetricSpec(
            f"1 when the case's check passes, else 0: outcome every margin ≥ {OUTCOME_PASS_MARGIN}; static "
            f"stillness ≥ {STILLNESS_PASS} and margin ≥ {OUTCOME_PASS_MARGIN}; physics_iq score ≥ "
            f"{PHYSICS_IQ_PASS}",
            True,
        ),
        "margin_static": MetricSpec(
            _MARGIN.format(which="'nothing happens' (the last context frame repeated)"), True
        ),
        "margin_counterfactual": MetricSpec(
            _MARGIN.format(which="specific to the case (named in the note)"), True
        ),
        "stillness": MetricSpec(
            "fraction of pixels of the K predicted frames whose every channel is within 10/255 of the "
            "previous frame (the last context frame before the first); static cases",
            True,
        ),
        "psnr": MetricSpec(
            f"PSNR vs the true frame, {F.PSNR_PROTOCOL}; per frame k; horizon None: mean over the K frames",
            True,
            "dB",
        ),
        "region_psnr": MetricSpec(
            f"masked PSNR over {_REGION}, {F.PSNR_PROTOCOL}; mean over the K frames", True, "dB"
        ),
        "region_motion": MetricSpec(
            f"motion energy of the prediction over {_REGION}: {F.MOTION_PROTOCOL}, from the last context "
            "frame through the K frames, mean; compare with region_motion_truth",
            None,
        ),
        "region_motion_truth": MetricSpec("region_motion of the true frames (the reference value)", None),
    }
    mse = (
        "Physics-IQ MSE between the K frames of {who} and the true frames (RGB in [0, 1], mean over "
        "frames and pixels); physics_iq cases only"
    )
    for name in _PIQ_METRICS:
        for suffix, who in (
            ("", "the prediction"),
            ("_take2", "a second real run (mob randomness reseeded)"),
        ):
            what = mse.format(who=who) if name == "mse" else _PIQ.format(what=name.replace("_", " "), who=who)
            if suffix:
                what += "; the physical variance that the score normalises by"
            m[f"piq_{name}{suffix}"] = MetricSpec(what, name != "mse")
    return m


# ---------------------------------------------------------------------------------------- checks


def outcome_margin(prediction: np.ndarray, truth: np.ndarray, wrong: np.ndarray) -> tuple[float, float]:
    """How much closer the prediction is to the truth than to a wrong outcome, where those two differ.

    Args:
        prediction, truth, wrong: uint8 (K, H, W, 3).

    Returns:
        (margin in [-1, 1], NaN when the truth and the wrong outcome do not differ; the fraction of
        pixels where they differ).
    """
    p, t, w = (np.asarray(x, np.float64) / 255.0 for x in (prediction, truth, wrong))
    differ = np.abs(t - w).max(axis=-1) > DIFF_THRESHOLD / 255.0  # (K, H, W)
    if not differ.any():
        return float("nan"), 0.0
    e_t = ((p - t) ** 2).mean(axis=-1)[differ].mean()
    e_w = ((p - w) ** 2).mean(axis=-1)[differ].mean()
    return float((e_w - e_t) / (e_w + e_t)), float(differ.mean())


def stillness(last_context: np.ndarray, frames: np.ndarray) -> float:
    """Fraction of pixels of ``frames`` (uint8 (K, H, W, 3)) within the threshold of the previous frame.

    The frame before the first is ``last_context`` (uint8 (H, W, 3)).
    """
    seq = np.concatenate([last_context[None], frames]).astype(np.int16)
    return float((np.abs(np.diff(seq, axis=0)).max(axis=-1) <= DIFF_THRESHOLD).mean())


def motion_masks(last_context: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Physics-IQ motion masks of K frames, bool (K, H, W) (see the ``piq_*`` protocols).

    Args:
        last_context: uint8 (H, W, 3), which starts the running-average background.
        frames: uint8 (K, H, W, 3).
    """
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in np.concatenate([last_context[None], frames])]
    background = grey[0].astype(np.float64)
    out = []
    for g in grey[1:]:
        cv2.accumulateWeighted(g.astype(np.float64), background, 0.3)
        out.append(cv2.absdiff(g, cv2.convertScaleAbs(background)) > DIFF_THRESHOLD)
    return np.stack(out)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def physics_iq_metrics(
    frames: np.ndarray, last_context: np.ndarray, reference: np.ndarray, reference_last: np.ndarray
) -> dict[str, float]:
    """Physics-IQ's four metrics of ``frames`` against ``reference`` (both uint8 (K, H, W, 3)).

    Args:
        frames, reference: the K frames compared.
        last_context, reference_last: uint8 (H, W, 3), the frame before each (starts its masks).
    """
    m, r = motion_masks(last_context, frames), motion_masks(reference_last, reference)
    wm, wr = m.mean(axis=0), r.mean(axis=0)
    union = np.maximum(wm, wr).sum()
    mse = ((frames.astype(np.float64) - reference.astype(np.float64)) / 255.0) ** 2
    return {
        "spatial_iou": _iou(m.any(axis=0), r.any(axis=0)),
        "spatiotemporal_iou": float(np.mean([_iou(a, b) for a, b in zip(m, r)])),
        "weighted_spatial_iou": 1.0 if union == 0 else float(np.minimum(wm, wr).sum() / union),
        "mse": float(mse.mean()),
    }


def physics_iq_score(model: dict[str, float], take2: dict[str, float]) -> float:
    """Physics-IQ score in [0, 1]: mean IoU ratio to the physical variance minus the excess MSE.

    Each ratio is capped at 1 (Physics-IQ leaves them uncapped and clips only the final score), so
    that beating the natural variation on one IoU cannot make up for another. NaN when every IoU of
    the second real run is 0 (no natural reference).
    """
    ratios = [min(1.0, model[k] / take2[k]) for k in _PIQ_METRICS[:3] if take2[k] > 0]
    if not ratios:
        return float("nan")
    return float(np.clip(np.mean(ratios) - (model["mse"] - take2["mse"]), 0.0, 1.0))


def region_mask(truth: Truth, names: Sequence[str]) -> np.ndarray:
    """bool (H, W): pixels where the true future segmentation shows one of ``names`` in any frame.

    ``"mob"`` stands for every mob; no names (or no segmentation): the whole frame.
    """
    seg = truth.future("segmentation")
    if not names or seg is None:
        return np.ones(truth.frames.shape[1:3], bool)
    hit = np.zeros(seg.shape, bool)
    for n in names:
        hit |= (seg >= ENTITY_SEG_OFFSET) if n == "mob" else (seg == BLOCK_IDS[n])
    return hit.any(axis=0)


def _region_values(
    pc: PhysicsCase, case: Case, pred: np.ndarray, truth: Truth
) -> list[tuple[str, float, str]]:
    """(metric, value, note) of the region metrics: masked PSNR and motion energy over the case's region."""
    region = region_mask(truth, pc.region)
    where = "region: " + (", ".join(pc.region) or "whole frame")
    names = ("region_psnr", "region_motion", "region_motion_truth")
    if not region.any():
        return [(m, float("nan"), f"{where}; empty at this frame size") for m in names]
    start = truth.frames[case.context_length - 1 : case.context_length]  # the last context frame
    values = (
        F.psnr(pred, truth.future_frames, mask=region).mean(),
        F.motion_energy(np.concatenate([start, pred]), region).mean(),
        F.motion_energy(np.concatenate([start, truth.future_frames]), region).mean(),
    )
    return [(m, float(v), where) for m, v in zip(names, values)]


def _first_event(truth: Truth, case: Case, kind: str) -> int:
    """0-based index of the first future frame showing a block event of ``kind`` (K when none)."""
    events = (truth.events or [])[case.context_length - 1 :]
    return next((k for k, ev in enumerate(events) if any(e.kind == kind for e in ev)), case.horizon)


# ----------------------------------------------------------------------------------------- probe


class PhysicsCases(Probe):
    """The physics failure-case catalogue of issue #8: scripted scenes with known outcomes.

    Args:
        cases: names of the cases to run (default all, in catalogue order; see ``CASE_NAMES``).

    Raises:
        ValueError: an unknown case name (the message lists the valid ones), or none.
    """

    supported_envs = VOXEL_ENVS

    name = "physics"
    metrics = _metrics()
    CASE_NAMES: tuple[str, ...] = tuple(catalogue())

    def __init__(self, cases: Sequence[str] | None = None) -> None:
        self._catalogue = catalogue()
        names = list(self._catalogue) if cases is None else [cases] if isinstance(cases, str) else list(cases)
        unknown = [n for n in names if n not in self._catalogue]
        if unknown or not names:
            raise ValueError(
                f"unknown physics cases {unknown or '(none given)'}; valid: {', '.join(self._catalogue)}"
            )
        self.case_names = tuple(dict.fromkeys(names))
        self._wrong_cache: dict[tuple[str, str, str], np.ndarray] = {}

    def definition(self, name: str) -> PhysicsCase:
        """The catalogue entry of a case."""
        return self._catalogue[name]

    def cases(self, env: ProbeEnv, world_seeds: Sequence[int]) -> list[Case]:
        """One case per (world, case name).

        Raises:
            ValueError: the env is not a voxel world (the scenes need its scenario API).
        """
        require_voxel(env)
        out = []
        for world_seed in world_seeds:
            for name in self.case_names:
                pc = self._catalogue[name]
                out.append(
                    Case(
                        self.name,
                        name,
                        int(world_seed),
                        list(pc.context),
                        list(pc.future),
                        scenario=in_arena(pc.build),
                        params={"check": pc.check},
                        stochastic=pc.stochastic,
                    )
                )
        return out

    def wrong_frames(self, case: Case, wrong: Wrong, ctx: ProbeContext) -> np.ndarray:
        """uint8 (K, H, W, 3): a wrong outcome of a case (cached per env, case and wrong outcome)."""
        key = (json.dumps(ctx.env.describe(), sort_keys=True, default=str), case.digest(), wrong.name)
        if key in self._wrong_cache:
            return self._wrong_cache[key]
        truth = ctx.truth(case)
        if wrong.name == STATIC.name:
            frames = np.repeat(truth.context_frames[-1:], case.horizon, axis=0)
        else:
            if truth.pose is None:
                raise ValueError(f"case {case.key}: the env reports no camera pose; wrong outcomes need it")
            poses, last = truth.future("pose"), truth.pose[case.context_length - 1]
            if wrong.sibling is not None:
                context, actions = wrong.sibling_actions or (case.context_actions, case.actions)
                sibling = Case(
                    self.name,
                    f"{case.name}~{wrong.name}",
                    case.world_seed,
                    list(context),
                    list(actions),
                    scenario=in_arena(wrong.sibling),
                )
                poses = ctx.truth(sibling).future("pose")
                if len(poses) != case.horizon:
                    raise ValueError(f"case {case.key}: the sibling run of '{wrong.name}' must have K steps")
            elif wrong.poses is not None:
                poses = wrong.poses(poses, last)
            frames = render_wrong(
                ctx.env, case.world_seed, self._catalogue[case.name].build, wrong.edit, poses
            )
            if wrong.after_event is not None:
                k0 = _first_event(truth, case, wrong.after_event)
                frames[:k0] = truth.future_frames[:k0]
        self._wrong_cache[key] = frames
        return frames

    def score(
        self,
        cases: Sequence[Case],
        predictions: Sequence[np.ndarray],
        seed: int,
        ctx: ProbeContext,
    ) -> ProbeOutput:
        """Rows (score, pass, the check's raw metrics, PSNR, region metrics) and media per case.

        Raises:
            ValueError: a prediction whose shape or dtype is not the truth's.
        """
        out = ProbeOutput()
        for case, pred in zip(cases, predictions):
            pc = self._catalogue[case.name]
            truth = ctx.truth(case)
            true = truth.future_frames
            pred = np.asarray(pred)
            if pred.shape != true.shape or pred.dtype != np.uint8:
                raise ValueError(
                    f"case {case.key}: prediction must be uint8 {true.shape}, got {pred.dtype} {pred.shape}"
                )

            def row(
                metric: str, value: float, note: str = "", horizon: int | None = None, c: Case = case
            ) -> Row:
                return Row(
                    self.name, c.name, metric, float(value), seed, c.world_seed, horizon, dict(c.params), note
                )

            checked, statement = self._check(pc, case, pred, truth, ctx)
            out.rows += [row(m, v, n or statement) for m, v, n in checked]
            per_frame = F.psnr(pred, true)
            out.rows += [row("psnr", v, horizon=k + 1) for k, v in enumerate(per_frame)]
            out.rows.append(row("psnr", per_frame.mean()))
            out.rows += [row(m, v, n) for m, v, n in _region_values(pc, case, pred, truth)]
            if ctx.keep_media:
                caption = f"{case.name} (truth beside prediction): {pc.expect}. {statement}"
                out.media.append(Media(self.name, case.name, seed, case.world_seed, true, pred, caption))
        self.check_rows(out.rows)
        return out

    def _check(
        self, pc: PhysicsCase, case: Case, pred: np.ndarray, truth: Truth, ctx: ProbeContext
    ) -> tuple[list[tuple[str, float, str]], str]:
        """The case's check: its rows as (metric, value, note or "" for the statement) and its statement."""
        true, last = truth.future_frames, truth.context_frames[-1]
        if pc.check == "physics_iq":
            take2 = ctx.truth(case, variant=1)
            model = physics_iq_metrics(pred, last, true, last)
            phys = physics_iq_metrics(take2.future_frames, take2.context_frames[-1], true, last)
            score = physics_iq_score(model, phys)
            statement = (
                f"check physics_iq: {pc.expect}; Physics-IQ score of the motion masks and MSE against the "
                "truth, normalised by a second real run with reseeded mob randomness; pass when ≥ "
                f"{PHYSICS_IQ_PASS}"
            )
            rows = [("score", score, ""), ("pass", float(score >= PHYSICS_IQ_PASS), "")]
            rows += [(f"piq_{k}", v, "") for k, v in model.items()]
            rows += [(f"piq_{k}_take2", v, "") for k, v in phys.items()]
            return rows, statement
        rows, margins = [], []
        for wrong in pc.wrong:
            m, frac = outcome_margin(pred, true, self.wrong_frames(case, wrong, ctx))
            metric = "margin_static" if wrong.name == STATIC.name else "margin_counterfactual"
            rows.append(
                (metric, m, f"wrong outcome '{wrong.name}': {wrong.what}; differs on {frac:.1%} of pixels")
            )
            margins.append(m)
        defined = bool(margins) and bool(np.all(np.isfinite(margins)))
        worst = min(margins) if defined else float("nan")
        score, passed = float(np.clip(worst, 0.0, 1.0)), defined and worst >= OUTCOME_PASS_MARGIN
        wrongs = ", ".join(f"'{w.name}' ({w.what})" for w in pc.wrong)
        statement = (
            f"check {pc.check}: {pc.expect}; closer to the truth than to every wrong outcome: {wrongs}"
        )
        if not defined:
            statement += " (UNDEFINED here: a wrong outcome equals the truth, score NaN)"
        if pc.check == "static":
            still = stillness(last, pred)
            rows.append(("stillness", still, ""))
            score, passed = (min(still, score) if defined else score), passed and still >= STILLNESS_PASS
            statement += (
                f"; and still: score = min(stillness, clip(margin, 0, 1)), pass when stillness ≥ "
                f"{STILLNESS_PASS} and margin ≥ {OUTCOME_PASS_MARGIN}"
            )
        else:
            statement += f"; score = clip(min margin, 0, 1), pass when every margin ≥ {OUTCOME_PASS_MARGIN}"
        return [("score", score, ""), ("pass", float(passed), ""), *rows], statement
