"""Action controllability: do the generated frames follow the commanded actions?

Two measurements, both against commanded actions of varied scripted segments, each held 2–6
steps (:func:`draw_segment`): camera turns in yaw (and pitch), or moves with at most one movement
key (forward, back, left or right, sometimes sprinting, sneaking or jumping, now and then
attack/use). Cases start from the world's spawn after C - 1 no-op steps.

- **action accuracy** (MineWorld's protocol, with our own IDM): an inverse-dynamics model
  (``simworld.models.idm``, trained with ``simworld train-idm``) reads the predicted frames (the
  last context frame, then the K predictions: K transitions) and predicts the actions; precision,
  recall and F1 per key and the camera error (MAE, degrees; yaw sign accuracy) against the
  commanded actions, pooled over all commanded cases of the probe. Without an IDM (option
  ``idm=None``) these rows are NaN with a note saying how to train one.
- **ΔtPSNR** (Genie, Bruce et al. 2024): PSNR(prediction with the commanded actions vs truth) −
  PSNR(prediction with random actions vs truth), per frame and averaged. Each commanded case has a
  partner case with the same world and context but random actions drawn from the same segment
  distribution with another seed (``params["actions"] == "random"``, named ``<case>_random``); the
  predictor under test generates both, and ``score`` (which receives all cases at once) compares
  the partner's prediction with the truth of the COMMANDED case. A predictor that ignores the
  actions (copy-last-frame) scores 0.

The same segment distribution makes IDM training data: ``simworld collect
policy=evals.probes.controllability:segment_policy`` (see :func:`segment_policy`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evals.probes import frames as F
from evals.probes.base import (
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
from simworld import actions as A

NO_IDM_NOTE = "no inverse-dynamics model: train one with `simworld train-idm`"
MOVES = ("none", "forward", "back", "left", "right")
MOVE_P = (0.15, 0.4, 0.15, 0.15, 0.15)

_POOLED = (
    "pooled over every transition (last context frame → prediction 1, …, prediction K-1 → K) of all "
    "commanded cases (case 'pooled', world_seed -1); the IDM (simworld.models.idm, option idm) reads "
    "the predicted frames; a key counts as predicted when its probability >= threshold (default 0.5); "
    "NaN with a note when there is no IDM or the value is undefined"
)


def draw_segment(rng: np.random.Generator) -> tuple[dict[str, Any], int]:
    """One held action segment: (canonical action, number of steps 2..6).

    A segment either turns the camera (35%: yaw ±4–15°, and pitch ±2–6° half of the time, no key)
    or moves (65%): at most one movement key (none 15%, forward 40%, back/left/right 15% each);
    with forward, sprint 30%; else sneak 10%; jump 20%; attack 8%; use 4%. Turning and walking
    are kept apart because a turn shifts the image by pixels while a step moves it by a fraction
    of one: an IDM (or a viewer) could not tell the keys pressed during a turn.
    """
    a = A.noop()
    if rng.random() < 0.35:
        yaw = float(rng.choice([-1, 1]) * rng.uniform(4, 15))
        pitch = 0.0 if rng.random() < 0.5 else float(rng.choice([-1, 1]) * rng.uniform(2, 6))
        a["camera"] = np.array([pitch, yaw], np.float32)
        return a, int(rng.integers(2, 7))
    move = MOVES[int(rng.choice(len(MOVES), p=MOVE_P))]
    if move != "none":
        a[move] = 1
    a["sprint"] = int(move == "forward" and rng.random() < 0.3)
    a["sneak"] = int(not a["sprint"] and rng.random() < 0.1)
    a["jump"] = int(rng.random() < 0.2)
    a["attack"] = int(rng.random() < 0.08)
    a["use"] = int(rng.random() < 0.04)
    return a, int(rng.integers(2, 7))


def segment_actions(rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
    """``n`` actions made of held segments from :func:`draw_segment`."""
    out: list[dict[str, Any]] = []
    while len(out) < n:
        a, length = draw_segment(rng)
        out += [
            {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in a.items()} for _ in range(length)
        ]
    return out[:n]


_POLICY_STATE: dict[str, Any] = {"left": 0, "action": None, "rng": None}


def segment_policy(obs: Any, info: dict[str, Any]) -> dict[str, Any]:
    """A ``simworld collect`` user policy playing the probe's segment distribution.

    ``simworld collect policy=evals.probes.controllability:segment_policy`` records IDM training
    data whose actions look like the probe's. ``collect`` seeds NumPy's global generator per
    episode; a new episode (``info["tick"] == 0``) draws this policy's generator from it, so the
    dataset is deterministic whatever the number of workers.
    """
    state = _POLICY_STATE
    if info.get("tick", 0) == 0 or state["rng"] is None:
        state.update(rng=np.random.default_rng(int(np.random.randint(0, 2**31 - 1))), left=0)
    if state["left"] <= 0:
        state["action"], state["left"] = draw_segment(state["rng"])
    state["left"] -= 1
    a = state["action"]
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in a.items()}


def _key_metrics() -> dict[str, MetricSpec]:
    out = {}
    for key in A.ACTION_KEYS:
        out[f"idm_precision_{key}"] = MetricSpec(f"IDM precision of key '{key}', {_POOLED}", True)
        out[f"idm_recall_{key}"] = MetricSpec(f"IDM recall of key '{key}', {_POOLED}", True)
        out[f"idm_f1_{key}"] = MetricSpec(f"IDM F1 of key '{key}', {_POOLED}", True)
    return out


class Controllability(Probe):
    """Commanded vs random actions from the same start: IDM action accuracy and ΔtPSNR.

    Args:
        horizon: K, frames per case.
        cases_per_world: commanded cases per world (each with its random-action partner).
        context_frames: C, real frames before the actions start (C - 1 no-op steps from the spawn).
        idm: folder of an inverse-dynamics model (``simworld train-idm``); None: IDM rows are NaN.
        idm_device: where the IDM runs.
        threshold: probability at which a key counts as predicted pressed.

    Raises:
        ValueError: an option out of range; CheckpointError (a ValueError) for a bad IDM folder.
    """

    name = "controllability"
    metrics = {
        "delta_psnr": MetricSpec(
            "ΔtPSNR (Genie): PSNR(prediction with the commanded actions vs truth) − PSNR(prediction "
            "with random actions vs the same truth), " + F.PSNR_PROTOCOL + "; the random actions are "
            "the partner case <case>_random (same world and context, actions from the same segment "
            "distribution with another seed), generated by the same predictor; per frame k, horizon "
            "None: mean over the K frames",
            True,
            "dB",
        ),
        "psnr_commanded": MetricSpec(
            "mean over the K frames of PSNR(prediction with the commanded actions vs truth), "
            + F.PSNR_PROTOCOL,
            True,
            "dB",
        ),
        "psnr_random": MetricSpec(
            "mean over the K frames of PSNR(prediction with random actions vs the truth of the commanded "
            "actions), " + F.PSNR_PROTOCOL,
            False,
            "dB",
        ),
        **_key_metrics(),
        "idm_f1_macro": MetricSpec(f"mean IDM F1 over the keys commanded at least once, {_POOLED}", True),
        "idm_camera_mae_pitch": MetricSpec(
            f"mean |predicted − commanded| camera pitch delta (degrees), {_POOLED}", False, "deg"
        ),
        "idm_camera_mae_yaw": MetricSpec(
            f"mean |predicted − commanded| camera yaw delta (degrees), {_POOLED}", False, "deg"
        ),
        "idm_yaw_sign_accuracy": MetricSpec(
            "share of transitions with commanded |yaw| >= 1° whose predicted yaw has the commanded sign "
            f"(|predicted| < 0.5° counts as wrong), {_POOLED}",
            True,
        ),
    }

    def __init__(
        self,
        horizon: int = 16,
        cases_per_world: int = 4,
        context_frames: int = 4,
        idm: str | None = None,
        idm_device: str = "cpu",
        threshold: float = 0.5,
    ) -> None:
        for key, value in (
            ("horizon", horizon),
            ("cases_per_world", cases_per_world),
            ("context_frames", context_frames),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be an int >= 1, got {value!r}")
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        self.horizon, self.cases_per_world, self.context_frames = horizon, cases_per_world, context_frames
        self.threshold, self.idm_path = threshold, idm
        self.idm: Any = None
        if idm is not None:
            from simworld.models.idm import load_idm

            self.idm = load_idm(idm, device=idm_device)

    # ------------------------------------------------------------------------------------- cases

    def cases(self, env: ProbeEnv, world_seeds: Sequence[int]) -> list[Case]:
        """Per world, ``cases_per_world`` commanded cases, each followed by its random-action partner.

        Raises:
            ValueError: the IDM was trained at another frame size than the env renders.
        """
        if self.idm is not None and tuple(self.idm.frame_size) != (size := tuple(env.frame_size)):
            raise ValueError(
                f"the inverse-dynamics model {self.idm_path} reads {self.idm.frame_size[0]}×"
                f"{self.idm.frame_size[1]} frames but the probe env renders {size[0]}×{size[1]}; "
                "train one at this size with `simworld train-idm`"
            )
        out = []
        context = [A.noop() for _ in range(self.context_frames - 1)]
        for world_seed in world_seeds:
            for i in range(self.cases_per_world):
                name = f"actions_{i}"
                for kind in ("commanded", "random"):
                    rng = np.random.default_rng(stable_seed("controllability", kind, int(world_seed), i))
                    out.append(
                        Case(
                            probe=self.name,
                            name=name if kind == "commanded" else f"{name}_random",
                            world_seed=int(world_seed),
                            context_actions=context,
                            actions=segment_actions(rng, self.horizon),
                            params={"index": i, "actions": kind, "pair": name, "horizon": self.horizon},
                            # both rollouts of a pair draw the same sampling noise: only the actions differ
                            sampling_key=f"{self.name}/{name}/w{int(world_seed)}",
                        )
                    )
        return out

    def identity(self) -> dict[str, Any]:
        """The IDM's weights hash: retraining it into the same folder must not reuse cached scores."""
        if self.idm_path is None:
            return {}
        weights = Path(self.idm_path) / "model.safetensors"
        return {"idm_sha256": hashlib.sha256(weights.read_bytes()).hexdigest() if weights.is_file() else None}

    # ------------------------------------------------------------------------------------- score

    def score(
        self, cases: Sequence[Case], predictions: Sequence[np.ndarray], seed: int, ctx: ProbeContext
    ) -> ProbeOutput:
        """ΔtPSNR per commanded case (with its partner), then IDM scores pooled over commanded cases."""
        out = ProbeOutput()
        partners = {
            (c.world_seed, c.params.get("pair")): p
            for c, p in zip(cases, predictions)
            if c.params.get("actions") == "random"
        }
        commanded = [
            (c, np.asarray(p)) for c, p in zip(cases, predictions) if c.params.get("actions") != "random"
        ]
        idm_inputs = []
        for case, pred in commanded:
            truth = ctx.truth(case)
            real = truth.future_frames
            if pred.shape != real.shape or pred.dtype != np.uint8:
                raise ValueError(
                    f"{case.key}: prediction must be uint8 {real.shape}, got {pred.dtype} {pred.shape}"
                )
            out.rows += self._delta_rows(case, pred, real, partners.get((case.world_seed, case.name)), seed)
            idm_inputs.append((case, np.concatenate([truth.context_frames[-1:], pred])))
            if ctx.keep_media:
                out.media.append(
                    Media(
                        self.name,
                        case.name,
                        seed,
                        case.world_seed,
                        truth=real,
                        prediction=pred,
                        caption=(
                            "commanded actions (walking, strafing, jumping, turning): does the "
                            "prediction move and turn the way the truth does?"
                        ),
                    )
                )
        out.rows += self._idm_rows(idm_inputs, seed)
        return out

    def _row(
        self, case: Case, metric: str, value: float, seed: int, horizon: int | None = None, note: str = ""
    ) -> Row:
        return Row(
            self.name, case.name, metric, value, seed, case.world_seed, horizon, dict(case.params), note
        )

    def _delta_rows(
        self, case: Case, pred: np.ndarray, real: np.ndarray, partner: Any, seed: int
    ) -> list[Row]:
        psnr = F.psnr(pred, real)
        rows = [self._row(case, "psnr_commanded", float(psnr.mean()), seed)]
        if partner is None or np.asarray(partner).shape != real.shape:
            note = f"random-action partner case {case.name}_random missing from the scored cases"
            rows.append(self._row(case, "psnr_random", float("nan"), seed, note=note))
            rows.append(self._row(case, "delta_psnr", float("nan"), seed, note=note))
            return rows
        rand = F.psnr(np.asarray(partner), real)
        delta = psnr - rand
        rows.append(self._row(case, "psnr_random", float(rand.mean()), seed))
        rows += [self._row(case, "delta_psnr", float(d), seed, horizon=k + 1) for k, d in enumerate(delta)]
        rows.append(self._row(case, "delta_psnr", float(delta.mean()), seed))
        return rows

    def _idm_rows(self, inputs: list[tuple[Case, np.ndarray]], seed: int) -> list[Row]:
        if not inputs:
            return []
        params = {"cases": sorted(c.key for c, _ in inputs), "transitions": sum(c.horizon for c, _ in inputs)}
        idm_metrics = [m for m in self.metrics if m.startswith("idm_")]

        def row(metric: str, value: float, note: str = "") -> Row:
            return Row(self.name, "pooled", metric, float(value), seed, -1, None, dict(params), note)

        if self.idm is None:
            return [row(m, float("nan"), NO_IDM_NOTE) for m in idm_metrics]
        from simworld.models.idm import score_actions

        probs, cams, keys, true_cams = [], [], [], []
        for case, video in inputs:
            p, c = self.idm.model.predict(video)
            flat = case.flat_actions()
            probs.append(p)
            cams.append(c)
            keys.append(flat[:, A.FLAT_KEYS])
            true_cams.append(flat[:, A.FLAT_CAMERA] * A.CAMERA_MAX_DEG)
        s = score_actions(
            np.concatenate(probs),
            np.concatenate(cams),
            np.concatenate(keys),
            np.concatenate(true_cams),
            self.threshold,
        )
        rows = []
        for key, v in s["keys"].items():
            for part in ("precision", "recall", "f1"):
                value, why = v[part], []
                if np.isnan(value) and v["support"] == 0:
                    why.append("key never commanded")
                if np.isnan(value) and v["predicted"] == 0:
                    why.append("key never predicted")
                rows.append(row(f"idm_{part}_{key}", value, ", ".join(why)))
        rows.append(
            row("idm_f1_macro", s["macro_f1"], "" if np.isfinite(s["macro_f1"]) else "no key commanded")
        )
        rows.append(row("idm_camera_mae_pitch", s["camera_mae"][0]))
        rows.append(row("idm_camera_mae_yaw", s["camera_mae"][1]))
        yaw_note = "" if s["yaw_sign_support"] else "no commanded turn"
        rows.append(row("idm_yaw_sign_accuracy", s["yaw_sign_accuracy"], yaw_note))
        return rows
