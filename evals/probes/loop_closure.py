"""Loop-closure probe: turn 360° in place or walk A→B→A, and compare the revisit (WorldMem / LoopNav
revisit consistency); shared scenes and helpers in ``evals.probes.consistency``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from envs.registration import DOOM_IDS
from evals.probes.base import VOXEL_ENVS, Case, MetricSpec, ProbeContext, ProbeEnv, Row, Truth
from evals.probes.consistency import (
    LPIPS_PROTOCOL,
    SETTLE_STEPS,
    _CaseProbe,
    _check,
    _lpips,
    _still,
    landmark_scene,
)
from evals.probes.frames import PSNR_PROTOCOL
from evals.probes.scenarios import action, in_arena, repeat


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

    On ViZDoom (``simworld/Doom-*``) only ``rotate_360`` runs, in the scenario's map as it is (a
    maze for ``simworld/Doom-v0``): Doom stores angles in fixed point, so the true revisit may
    differ slightly from the start view; the truth is what it is and is what the rows compare with.

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

    supported_envs = (*VOXEL_ENVS, *DOOM_IDS)

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
        voxel = env.id in VOXEL_ENVS
        names = self.case_names if voxel else [n for n in self.case_names if n == "rotate_360"]
        if not names:
            raise ValueError(
                f"loop_closure on {env.id!r} has only the rotate_360 case (walk_aba needs a voxel arena); "
                f"got cases {list(self.case_names)}"
            )
        out = []
        for seed in world_seeds:
            for name in names:
                p = dict(params, walk_steps=self.walk_steps) if name == "walk_aba" else dict(params)
                out.append(
                    Case(
                        self.name,
                        name,
                        int(seed),
                        _still(self.context_frames - 1),
                        futures[name],
                        # the voxel world gets an arena of landmarks; other games are used as they are
                        scenario=in_arena(landmark_scene) if voxel else None,
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
