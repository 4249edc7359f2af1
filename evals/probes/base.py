"""The machinery every consistency probe shares: cases, ground-truth runs, predictors, result rows.

A probe drives the REAL simulator and a PREDICTOR (the learned world, or a baseline) from the same
start with the same actions, and measures where the prediction departs from the truth:

1. ``Probe.cases(env, world_seeds)`` lists ``Case`` s: a world seed, an optional scenario (a
   callable that edits the world before the first frame, through the voxel scenario API), the
   actions that build the context, and the K future actions;
2. ``run_truth(env, case)`` steps the real env through context + future actions and records every
   frame with its ground truth (pose, intrinsics, depth, segmentation, entities, block events);
3. a ``Predictor`` gets the context frames and actions and the K future actions and returns K
   frames: ``Simulator`` (the real env again: the ceiling), ``CopyLastFrame`` and ``Noise`` (the
   floors), ``ModelPredictor`` (a ``WorldModel`` checkpoint);
4. ``Probe.score(...)`` turns (truth, prediction) into long-format ``Row`` s — one number each,
   labelled with its metric, case, horizon and seed — and optional ``Media`` (truth beside the
   prediction, for the report's GIFs).

Another environment with ground truth plugs in through ``ProbeEnv``: it must accept
``reset(options={"world_seed": ..., "scenario": ...})`` and return the ground-truth keys of
``envs.voxel.env.GROUND_TRUTH_KEYS`` it has in ``info`` (probes skip what is missing).

Determinism: a case is a pure function of its world seed and parameters; ``Noise`` and the model
draw from seeds derived from ``(seed, case.key)`` with a stable hash, so the same suite gives the
same rows whatever the order or batching of the cases.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from simworld import actions as A

VOXEL_ENVS: tuple[str, ...] = (
    "simworld/VoxelWorld-v0",
    "simworld/VoxelNavigate-v0",
    "simworld/VoxelCollectLog-v0",
    "simworld/VoxelCollectDirt-v0",
)
"""The voxel world's ids: what probes that build scenes with the voxel scenario API run on."""

Scenario = Callable[[Any], None]
"""Edits a world before its first frame (``envs.voxel.world.VoxelWorld`` scenario API)."""


def stable_seed(*parts: Any) -> int:
    """A 31-bit seed from any JSON-able parts (stable across processes, unlike ``hash``)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "little") & 0x7FFFFFFF


# ---------------------------------------------------------------------------------------------- env


@dataclass
class ProbeEnv:
    """The real environment a probe runs, with the ground truth it needs.

    Attributes:
        id: Gymnasium id (default the voxel world).
        params: keyword arguments of ``gymnasium.make`` (frame ``width``/``height``, ``fov_y``,
            world parameters, ...); ``ground_truth`` is always "all".
    """

    id: str = "simworld/VoxelWorld-v0"
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def frame_size(self) -> tuple[int, int]:
        """(H, W) of the frames: ``params`` height/width, else the env's defaults (made to ask it)."""
        if "height" in self.params and "width" in self.params:
            return int(self.params["height"]), int(self.params["width"])
        env = self.make()
        try:
            H, W = env.observation_space.shape[:2]
        finally:
            env.close()
        return int(H), int(W)

    def make(self) -> gym.Env:
        """A fresh env that reports all its ground truth."""
        import envs  # noqa: F401  (registers the simworld ids)

        return gym.make(self.id, ground_truth="all", disable_env_checker=True, **self.params)

    @classmethod
    def from_model(cls, model: Any, **overrides: Any) -> ProbeEnv:
        """The env a checkpoint was trained on (``training["env"]``), at the checkpoint's frame size.

        A checkpoint that does not record its env gets the default voxel world.
        """
        env = dict(model.training.get("env") or {})
        params = {k: v for k, v in dict(env.get("params") or {}).items() if k not in ("ground_truth",)}
        H, W = model.frame_size
        params.update(height=H, width=W, **overrides)
        return cls(id=str(env.get("id", cls.id)), params=params)

    def describe(self) -> dict[str, Any]:
        """JSON-able description (manifest, cache keys)."""
        return {"id": self.id, "params": dict(sorted(self.params.items()))}


# --------------------------------------------------------------------------------------------- case


@dataclass
class Case:
    """One scripted start and action sequence of a probe.

    Attributes:
        probe: the probe's name.
        name: the case's name within the probe (e.g. ``"rotate_360"``, ``"sand_falls"``).
        world_seed: the world.
        context_actions: canonical actions stepped in the real env to build the context; the
            context is the reset frame plus one frame per action.
        actions: the K future actions the predictor must simulate.
        scenario: optional world edit before the first frame.
        params: the case's parameters (occlusion length, angle, ...), JSON-able; they go in the
            results table and the cache key.
        stochastic: the outcome depends on randomness inside the simulator (mob wandering); the
            probe may compare with a second real run whose mob randomness differs (``variant=1``).
        sampling_key: cases with the same sampling key get the same sampling noise from a seeded
            predictor (e.g. a rollout with random actions and its commanded partner, so that only
            the actions differ); empty: the case's own ``key``.
    """

    probe: str
    name: str
    world_seed: int
    context_actions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    scenario: Scenario | None = None
    params: dict[str, Any] = field(default_factory=dict)
    stochastic: bool = False
    sampling_key: str = ""

    def __post_init__(self) -> None:
        if not self.actions:
            raise ValueError(f"case {self.probe}/{self.name}: needs at least one future action")
        self.context_actions = [A.validate(a) for a in self.context_actions]
        self.actions = [A.validate(a) for a in self.actions]

    @property
    def key(self) -> str:
        """Unique name within a suite: ``probe/name/w<world_seed>``."""
        return f"{self.probe}/{self.name}/w{self.world_seed}"

    @property
    def noise_key(self) -> str:
        """What seeds this case's sampling noise (``sampling_key`` or ``key``)."""
        return self.sampling_key or self.key

    @property
    def context_length(self) -> int:
        """Frames of context (reset frame + one per context action)."""
        return len(self.context_actions) + 1

    @property
    def horizon(self) -> int:
        """K, the frames to predict."""
        return len(self.actions)

    def flat_context_actions(self) -> np.ndarray:
        """float32 (C-1, 21)."""
        return _flat(self.context_actions)

    def flat_actions(self) -> np.ndarray:
        """float32 (K, 21)."""
        return _flat(self.actions)

    def digest(self) -> str:
        """sha256 of everything that defines the case (for result caches)."""
        blob = {
            "key": self.key,
            "params": self.params,
            "scenario": getattr(self.scenario, "__qualname__", None),
            "sampling_key": self.noise_key,
            "context": _flat(self.context_actions).round(6).tolist(),
            "actions": self.flat_actions().round(6).tolist(),
        }
        return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()


def _flat(actions: Sequence[Mapping[str, Any]]) -> np.ndarray:
    if not actions:
        return np.zeros((0, A.FLAT_DIM), np.float32)
    return np.stack([A.to_flat(a) for a in actions]).astype(np.float32)


# -------------------------------------------------------------------------------------------- truth


@dataclass
class Truth:
    """A real run of a case: C context frames then K future frames, with ground truth.

    Attributes:
        frames: uint8 (C+K, H, W, 3).
        pose: float64 (C+K, 5) eye x, y, z, yaw, pitch, or None.
        intrinsics: float64 (3, 3), or None.
        depth: float32 (C+K, H, W) planar depth (inf for sky), or None.
        segmentation: int16 (C+K, H, W), or None.
        entities: float64 (M, 5) per frame (mobs), or None.
        events: block events of each step (``len == C+K-1``), or None.
        labels: the visible labelled objects of each frame (ViZDoom's ``labels``: dicts with
            ``value``, ``id``, ``name``, ``position``, ``box``), or None.
        context_length: C.
    """

    frames: np.ndarray
    context_length: int
    pose: np.ndarray | None = None
    intrinsics: np.ndarray | None = None
    depth: np.ndarray | None = None
    segmentation: np.ndarray | None = None
    entities: list[np.ndarray] | None = None
    events: list[tuple[Any, ...]] | None = None
    labels: list[list[dict[str, Any]]] | None = None

    @property
    def context_frames(self) -> np.ndarray:
        """uint8 (C, H, W, 3)."""
        return self.frames[: self.context_length]

    @property
    def future_frames(self) -> np.ndarray:
        """uint8 (K, H, W, 3): what a perfect predictor returns."""
        return self.frames[self.context_length :]

    def future(self, name: str) -> Any:
        """The future part (K entries) of a per-frame ground-truth field."""
        value = getattr(self, name)
        return None if value is None else value[self.context_length :]


def _reseed_mobs(world: Any, variant: int) -> None:
    """Give the world's mobs new wandering randomness (a second "take" of the same scene)."""
    n = world.n_mobs
    mix = np.uint64(stable_seed("variant", variant, world.seed))
    world.mob_rng[:n] = (world.mob_rng[:n] ^ mix) + np.uint64(variant)


def run_truth(env_spec: ProbeEnv, case: Case, variant: int = 0) -> Truth:
    """Step the real env through the case's context and future actions, recording ground truth.

    Args:
        env_spec: the env.
        case: the case.
        variant: 0 is the truth; ``k > 0`` reruns it with the mobs' randomness reseeded at the end
            of the context (a second "take" of a stochastic case from the same start, for the
            natural variation between two real runs; the context frames are identical).
    """
    env = env_spec.make()
    try:
        options = {"world_seed": case.world_seed, "scenario": case.scenario}
        obs, info = env.reset(seed=case.world_seed, options=options)
        records = [(obs, info)]
        events: list[tuple[Any, ...]] = []
        for i, action in enumerate([*case.context_actions, *case.actions]):
            if variant and i == len(case.context_actions):
                _reseed_mobs(env.unwrapped.world, variant)
            obs, _, _, _, info = env.step(action)
            records.append((obs, info))
            events.append(tuple(info.get("events", ())))
    finally:
        env.close()

    def stack(key: str) -> np.ndarray | None:
        if key not in records[0][1]:
            return None
        return np.stack([r[1][key] for r in records])

    first = records[0][1]
    return Truth(
        frames=np.stack([r[0] for r in records]),
        context_length=case.context_length,
        pose=stack("pose"),
        intrinsics=None if "intrinsics" not in first else np.asarray(first["intrinsics"]),
        depth=stack("depth"),
        segmentation=stack("segmentation"),
        entities=[r[1]["entities"] for r in records] if "entities" in first else None,
        events=events if "events" in first else None,
        labels=[r[1]["labels"] for r in records] if "labels" in first else None,
    )


class TruthCache:
    """Real runs of cases, computed once per (case, variant) and shared by every probe and predictor."""

    def __init__(self, env_spec: ProbeEnv) -> None:
        self.env_spec = env_spec
        self._runs: dict[tuple[str, int], Truth] = {}

    def __call__(self, case: Case, variant: int = 0) -> Truth:
        key = (case.digest(), variant)
        if key not in self._runs:
            self._runs[key] = run_truth(self.env_spec, case, variant)
        return self._runs[key]


# --------------------------------------------------------------------------------------- predictors


class Predictor:
    """Predicts the K future frames of cases. Subclasses set ``kind`` and implement ``predict``.

    Attributes:
        name: the row label (a checkpoint's name, or the baseline's).
        kind: "simulator" (ceiling), "baseline" (floors) or "model".
    """

    kind: ClassVar[str] = ""
    deterministic: ClassVar[bool] = False
    """Predictions do not depend on the sampling seed (the runner computes them once per unit)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def identity(self) -> dict[str, Any]:
        """JSON-able description that changes whenever its predictions may (for caches/manifests)."""
        return {"name": self.name, "kind": self.kind, "type": type(self).__name__}

    def predict(self, cases: Sequence[Case], truths: Sequence[Truth], seed: int) -> list[np.ndarray]:
        """uint8 (K_i, H, W, 3) for every case, given its truth's context (never its future)."""
        raise NotImplementedError


class Simulator(Predictor):
    """The real simulator run again from the same start (the ceiling: it must score perfectly)."""

    kind = "simulator"
    deterministic = True

    def __init__(self, env_spec: ProbeEnv, name: str = "simulator") -> None:
        super().__init__(name)
        self.env_spec = env_spec

    def predict(self, cases: Sequence[Case], truths: Sequence[Truth], seed: int) -> list[np.ndarray]:
        return [run_truth(self.env_spec, case).future_frames for case in cases]


class CopyLastFrame(Predictor):
    """Repeat the last context frame (a floor: a world that never changes)."""

    kind = "baseline"
    deterministic = True

    def __init__(self, name: str = "copy_last_frame") -> None:
        super().__init__(name)

    def predict(self, cases: Sequence[Case], truths: Sequence[Truth], seed: int) -> list[np.ndarray]:
        return [np.repeat(t.context_frames[-1:], c.horizon, axis=0) for c, t in zip(cases, truths)]


class Noise(Predictor):
    """Uniform random frames (a floor: no information at all), seeded per (seed, case)."""

    kind = "baseline"

    def __init__(self, name: str = "noise") -> None:
        super().__init__(name)

    def predict(self, cases: Sequence[Case], truths: Sequence[Truth], seed: int) -> list[np.ndarray]:
        out = []
        for c, t in zip(cases, truths):
            rng = np.random.default_rng(stable_seed("noise", seed, c.noise_key))
            out.append(rng.integers(0, 256, (c.horizon, *t.frames.shape[1:]), dtype=np.uint8))
        return out


class ModelPredictor(Predictor):
    """A ``WorldModel``: reset on the real context frames and actions, then one step per action.

    Args:
        model: the loaded world model.
        env_spec: the probes' env; checked against the checkpoint before any compute.
        name: row label (default: the checkpoint folder's name).
        checkpoint: the checkpoint folder (for its hash in ``identity``).
        batch_size: cases generated at once (cases of equal context length and horizon batch).

    Raises:
        ValueError: frame size or action schema of the checkpoint differ from the probes' env.
    """

    kind = "model"

    def __init__(
        self,
        model: Any,
        env_spec: ProbeEnv,
        name: str | None = None,
        checkpoint: str | None = None,
        batch_size: int = 8,
    ) -> None:
        super().__init__(name or (str(checkpoint).rstrip("/").split("/")[-1] if checkpoint else "model"))
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        check_compatible(model, env_spec)
        self.model, self.checkpoint, self.batch_size = model, checkpoint, batch_size

    def identity(self) -> dict[str, Any]:
        out = super().identity()
        out["checkpoint"] = self.checkpoint
        out["weights_sha256"] = model_digest(self.model)
        out["sampler"] = dataclasses.asdict(self.model.sampler)
        return out

    def predict(self, cases: Sequence[Case], truths: Sequence[Truth], seed: int) -> list[np.ndarray]:
        out: list[np.ndarray | None] = [None] * len(cases)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, c in enumerate(cases):
            groups.setdefault((c.context_length, c.horizon), []).append(i)
        for idx in groups.values():
            for s in range(0, len(idx), self.batch_size):
                part = idx[s : s + self.batch_size]
                result = self.model.rollout(
                    np.stack([truths[i].context_frames for i in part]),
                    np.stack([cases[i].flat_actions() for i in part]),
                    context_actions=np.stack([cases[i].flat_context_actions() for i in part]),
                    seed=[stable_seed("model", seed, cases[i].noise_key) for i in part],
                )
                frames = result.frames.cpu().numpy()
                for j, i in enumerate(part):
                    out[i] = frames[j]
        return out  # type: ignore[return-value]


def model_digest(model: Any) -> str:
    """sha256 over the world model's weights (latent space, DiT, head), in a fixed order."""
    h = hashlib.sha256()
    for part in ("latent_space", "dit", "head"):
        for key, value in sorted(getattr(model, part).state_dict().items()):
            h.update(f"{part}.{key}".encode())
            h.update(value.detach().cpu().contiguous().float().numpy().tobytes())
    return h.hexdigest()


def check_compatible(model: Any, env_spec: ProbeEnv) -> None:
    """Refuse a checkpoint that cannot be driven by the probes' env (before any compute).

    Raises:
        ValueError: the frame sizes differ, or the DiT's action input is not the canonical schema.
    """
    H, W = env_spec.frame_size
    if tuple(model.frame_size) != (H, W):
        raise ValueError(
            f"the checkpoint generates {model.frame_size[0]}×{model.frame_size[1]} frames but the probe "
            f"env {env_spec.id} renders {H}×{W}; build the env with ProbeEnv.from_model(model) or set "
            f"its height/width to the checkpoint's frame size"
        )
    dim = getattr(model.dit, "action_dim", A.FLAT_DIM)
    if dim != A.FLAT_DIM:
        raise ValueError(
            f"the checkpoint's action input has {dim} dims; the probes drive the canonical "
            f"simworld.actions schema ({A.FLAT_DIM} dims)"
        )


# ------------------------------------------------------------------------------------------ results


@dataclass
class Row:
    """One number of a probe, in the long format of the results table.

    Attributes:
        probe, case: where it comes from (``case`` is the case's name, ``params`` its parameters).
        metric: the metric's name as declared in the probe's ``metrics``.
        value: the number (NaN when undefined, e.g. no keypoints matched; see ``note``).
        horizon: frame index within the prediction (1-based) for per-frame values, else None.
        seed: sampling seed.
        world_seed: the case's world.
        params: the case's parameters.
        note: why a value is NaN, or other context.
    """

    probe: str
    case: str
    metric: str
    value: float
    seed: int
    world_seed: int
    horizon: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass
class Media:
    """Truth beside prediction for one case (for the report's GIF/MP4)."""

    probe: str
    case: str
    seed: int
    world_seed: int
    truth: np.ndarray
    prediction: np.ndarray
    caption: str = ""


@dataclass
class ProbeOutput:
    """What scoring a probe's cases for one predictor and seed gives."""

    rows: list[Row] = field(default_factory=list)
    media: list[Media] = field(default_factory=list)


@dataclass(frozen=True)
class MetricSpec:
    """A probe metric: how it is computed (the protocol label) and which direction is better.

    ``higher_is_better`` is None for raw quantities with no better direction (e.g. a region's motion
    energy, to be read beside the truth's); comparisons then give no verdict.
    """

    protocol: str
    higher_is_better: bool | None
    unit: str = ""


class ProbeContext:
    """Shared tools of one suite run: ground-truth runs, the frame scorer, media settings.

    Attributes:
        env: the env.
        truth: ``truth(case, variant=0)`` cached real runs.
        scorer: ``evals.probes.frames.FrameScorer`` (PSNR/SSIM/LPIPS, masked variants).
        keep_media: whether probes return ``Media``.
    """

    def __init__(self, env: ProbeEnv, scorer: Any, keep_media: bool = True) -> None:
        self.env = env
        self.truth = TruthCache(env)
        self.scorer = scorer
        self.keep_media = keep_media


class Probe:
    """A family of cases and how to score them. Subclasses set ``name`` and ``metrics``.

    Class attributes:
        name: the probe's name in the results table.
        metrics: ``{metric name: MetricSpec}`` of every metric its rows use.
        supported_envs: ids of the envs it can run on (``VOXEL_ENVS`` for the probes that build
            voxel scenes), None for any env.
    """

    name: ClassVar[str] = ""
    metrics: ClassVar[dict[str, MetricSpec]] = {}
    supported_envs: ClassVar[tuple[str, ...] | None] = None
    """Gymnasium ids whose scenes the probe can build (None: any env with frames and canonical actions)."""

    def identity(self) -> dict[str, Any]:
        """What else, besides its options and cases, changes this probe's numbers (e.g. the hash of a
        model it scores with); part of the eval cache key. Default: nothing."""
        return {}

    def cases(self, env: ProbeEnv, world_seeds: Sequence[int]) -> list[Case]:
        """The probe's cases for these worlds."""
        raise NotImplementedError

    def score(
        self,
        cases: Sequence[Case],
        predictions: Sequence[np.ndarray],
        seed: int,
        ctx: ProbeContext,
    ) -> ProbeOutput:
        """Rows (and media) for one predictor's predictions of ``cases`` with one seed."""
        raise NotImplementedError

    def check_rows(self, rows: Sequence[Row]) -> None:
        """Every row's metric is declared (a guard for probe authors).

        Raises:
            ValueError: an undeclared metric name.
        """
        unknown = sorted({r.metric for r in rows} - set(self.metrics))
        if unknown:
            raise ValueError(f"probe {self.name!r} produced undeclared metrics {unknown}")
