"""The canonical action schema of simworld, defined once for every producer and consumer.

The voxel env, the learned (world-model) env, dataset importers and game adapters all speak
this one MineRL-compatible action. An action is a dict:

- nine binary keys, in the fixed order of ``ACTION_KEYS``
  (``forward, back, left, right, jump, sneak, sprint, attack, use``), each an int 0 or 1;
- ``camera``: float32 array of shape (2,), ``[pitch_delta_deg, yaw_delta_deg]``, each in
  ``[-CAMERA_MAX_DEG, CAMERA_MAX_DEG]`` = [-180, 180] degrees;
- ``hotbar``: int in ``0..NUM_HOTBAR``; 0 keeps the selected slot, ``k`` selects slot ``k``
  (1-based, like MineRL's ``hotbar.k`` keys).

Camera sign convention (MineRL's, which this schema copies): the deltas are added to the
player's Minecraft rotation, ``rotationPitch += camera[0]`` and ``rotationYaw += camera[1]``
(minerllabs/minerl, ``minerl/Malmo/Minecraft/src/main/java/com/microsoft/Malmo/MissionHandlers/
CameraCommandsImplementation.java``). In Minecraft, pitch is 0 at the horizon, positive looking
DOWN and negative looking up (clamped to ±90); yaw grows clockwise seen from above (south 0,
west +90, north ±180, east -90; minecraft.wiki "Rotation"). Hence:

- ``camera[0] > 0`` looks down, ``camera[0] < 0`` looks up;
- ``camera[1] > 0`` turns right, ``camera[1] < 0`` turns left.

This also matches OpenAI VPT, which maps mouse ``dy`` (screen y grows downwards) to
``camera[0]`` and ``dx`` to ``camera[1]`` (see ``simworld.action_formats``).

Forms provided here:

- the dict above (``validate`` normalises user input to it; ``action_space()`` is the exact
  Gymnasium space of it);
- a flat float32 vector for models (``to_flat`` / ``from_flat``), layout in ``FLAT_*`` below;
- a stacked "batched dict" (dict of arrays with a leading batch dim, as a Gymnasium vector env
  with ``batch_space(action_space(), n)`` expects) via ``stack`` / ``unstack``.

Converters to and from MineRL, VPT contractor jsonl and Oasis vectors live in
``simworld.action_formats``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.error import InvalidAction

ACTION_KEYS: tuple[str, ...] = (
    "forward",
    "back",
    "left",
    "right",
    "jump",
    "sneak",
    "sprint",
    "attack",
    "use",
)
"""The binary keys of an action, in canonical order (also their order in the flat vector)."""

NUM_KEYS = len(ACTION_KEYS)
"""Number of binary keys (9)."""

CAMERA_MAX_DEG = 180.0
"""Largest absolute camera delta per step, in degrees (MineRL's ``Box(-180, 180)``)."""

NUM_HOTBAR = 9
"""Number of hotbar slots; ``hotbar`` takes ``NUM_HOTBAR + 1`` values (0 = keep the current slot)."""

FLAT_KEYS = slice(0, NUM_KEYS)
"""Flat-vector entries of the binary keys, 0.0 or 1.0, in ``ACTION_KEYS`` order."""

FLAT_CAMERA = slice(NUM_KEYS, NUM_KEYS + 2)
"""Flat-vector entries of ``camera / CAMERA_MAX_DEG`` (pitch, yaw), in [-1, 1]."""

FLAT_HOTBAR = slice(NUM_KEYS + 2, NUM_KEYS + 2 + NUM_HOTBAR + 1)
"""Flat-vector entries of the one-hot ``hotbar`` (index 0 = keep, k = slot k)."""

FLAT_DIM = FLAT_HOTBAR.stop
"""Length of the flat action vector: 9 keys + 2 camera + 10 hotbar = 21."""

ALL_KEYS: tuple[str, ...] = (*ACTION_KEYS, "camera", "hotbar")
"""Every key of an action dict, in canonical order."""

SPACE_DESCRIPTION = (
    f"Dict({', '.join(ACTION_KEYS)}: Discrete(2) each; "
    f"camera: Box({-CAMERA_MAX_DEG}, {CAMERA_MAX_DEG}, (2,), float32) = [pitch, yaw] degrees; "
    f"hotbar: Discrete({NUM_HOTBAR + 1}) with 0 = keep slot)"
)
"""Human-readable form of ``action_space()``, quoted in every validation error."""

Action = dict[str, Any]
"""Type of a canonical action: ``{key: int, ..., "camera": float32 (2,), "hotbar": int}``."""


def action_space(seed: int | None = None) -> spaces.Dict:
    """Build the Gymnasium space of one canonical action.

    Keys keep the canonical order (``sort_keys=False``); ``sample()`` draws valid actions, and
    ``gymnasium.vector.utils.batch_space(action_space(), n)`` contains ``stack`` of n actions.

    Args:
        seed: optional seed for the space's sampler.

    Returns:
        ``Dict`` of ``Discrete(2)`` per binary key, ``Box(-180, 180, (2,), float32)`` camera and
        ``Discrete(10)`` hotbar.
    """
    members: dict[str, spaces.Space] = {key: spaces.Discrete(2) for key in ACTION_KEYS}
    members["camera"] = spaces.Box(-CAMERA_MAX_DEG, CAMERA_MAX_DEG, shape=(2,), dtype=np.float32)
    members["hotbar"] = spaces.Discrete(NUM_HOTBAR + 1)
    return spaces.Dict(members, seed=seed, sort_keys=False)


def noop() -> Action:
    """Return the action that does nothing: no key, zero camera delta, keep the hotbar slot.

    Returns:
        A fresh canonical action dict (safe to mutate).
    """
    action: Action = {key: 0 for key in ACTION_KEYS}
    action["camera"] = np.zeros(2, dtype=np.float32)
    action["hotbar"] = 0
    return action


def _invalid(message: str) -> InvalidAction:
    return InvalidAction(f"{message}; expected {SPACE_DESCRIPTION}")


def _int_array(value: Any, name: str, num_values: int) -> np.ndarray:
    """Integer array of ``value`` with every entry in ``[0, num_values)``, or InvalidAction."""
    array = np.asarray(value)
    if array.dtype.kind not in "biu":
        raise _invalid(f"{name!r} must be an integer or bool, got {array.dtype} value {value!r}")
    array = array.astype(np.int64)
    if array.size and (array.min() < 0 or array.max() >= num_values):
        raise _invalid(f"{name!r} must be in 0..{num_values - 1}, got {value!r}")
    return array


def _camera_array(value: Any) -> np.ndarray:
    """float32 camera array of shape (..., 2) within range, or InvalidAction."""
    array = np.asarray(value)
    if array.dtype.kind not in "iuf" or array.ndim < 1 or array.shape[-1] != 2:
        raise _invalid(
            f"'camera' must be a real array of shape (2,), got dtype {array.dtype} shape {array.shape}"
        )
    camera = array.astype(np.float32)
    if not np.all(np.isfinite(camera)):
        raise _invalid(f"'camera' must be finite, got {value!r}")
    if np.any(np.abs(camera) > CAMERA_MAX_DEG):
        raise _invalid(f"'camera' must be within [-{CAMERA_MAX_DEG}, {CAMERA_MAX_DEG}], got {value!r}")
    return camera


def _check_keys(action: Any) -> None:
    if not isinstance(action, Mapping):
        raise _invalid(f"an action must be a dict, got {type(action).__name__}")
    missing = [key for key in ALL_KEYS if key not in action]
    unknown = sorted(str(key) for key in action if key not in ALL_KEYS)
    if missing or unknown:
        raise _invalid(f"missing keys {missing}, unknown keys {unknown}")


def validate(action: Mapping[str, Any]) -> Action:
    """Check a user action and return it in canonical form.

    Accepts Python ints and bools, NumPy integer/bool scalars or 0-d arrays for the binary keys
    and ``hotbar``; a list, tuple or array of two real numbers for ``camera``. Floats are not
    accepted for the binary keys or ``hotbar`` (a model's 0.93 is not a key press: decode with
    ``from_flat`` instead).

    Args:
        action: mapping with exactly the keys of ``ALL_KEYS``.

    Returns:
        A new dict in canonical key order: Python ``int`` 0/1 per binary key, ``camera`` as a
        float32 array of shape (2,), ``hotbar`` as a Python ``int`` in 0..9.

    Raises:
        gymnasium.error.InvalidAction: a key is missing or unknown, a value has the wrong
            type, dtype or shape, is out of range, or the camera is not finite. The message
            names the expected space.
    """
    _check_keys(action)
    result: Action = {}
    for key in ACTION_KEYS:
        value = _int_array(action[key], key, 2)
        if value.shape != ():
            raise _invalid(f"{key!r} must be a scalar, got shape {value.shape}")
        result[key] = int(value)
    camera = _camera_array(action["camera"])
    if camera.shape != (2,):
        raise _invalid(f"'camera' must have shape (2,), got {camera.shape}")
    result["camera"] = camera
    hotbar = _int_array(action["hotbar"], "hotbar", NUM_HOTBAR + 1)
    if hotbar.shape != ():
        raise _invalid(f"'hotbar' must be a scalar, got shape {hotbar.shape}")
    result["hotbar"] = int(hotbar)
    return result


def validate_batched(batched: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Check a stacked action batch and return it in canonical form.

    Args:
        batched: mapping with the keys of ``ALL_KEYS``; binary keys and ``hotbar`` integer
            arrays of shape (*B), ``camera`` real of shape (*B, 2), same leading shape *B.

    Returns:
        Dict of int64 arrays (*B) per binary key and for ``hotbar``, float32 ``camera`` (*B, 2).

    Raises:
        gymnasium.error.InvalidAction: as ``validate``, or the leading shapes disagree.
    """
    _check_keys(batched)
    camera = _camera_array(batched["camera"])
    batch_shape = camera.shape[:-1]
    result: dict[str, np.ndarray] = {}
    for key, num_values in [*((key, 2) for key in ACTION_KEYS), ("hotbar", NUM_HOTBAR + 1)]:
        value = _int_array(batched[key], key, num_values)
        if value.shape != batch_shape:
            raise _invalid(f"{key!r} has shape {value.shape} but camera has batch shape {batch_shape}")
        result[key] = value
    result["camera"] = camera
    return {key: result[key] for key in ALL_KEYS}


def stack(actions: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Stack actions into the batched-dict form used by vector envs.

    Args:
        actions: B actions (each checked with ``validate``), B >= 1.

    Returns:
        Dict of int64 arrays (B,) per binary key and for ``hotbar``, float32 ``camera`` (B, 2);
        a member of ``gymnasium.vector.utils.batch_space(action_space(), B)``.

    Raises:
        gymnasium.error.InvalidAction: an action is invalid.
        ValueError: ``actions`` is empty (the batch size would be unknown).
    """
    if len(actions) == 0:
        raise ValueError("stack needs at least one action, got an empty sequence")
    checked = [validate(action) for action in actions]
    batched = {key: np.array([a[key] for a in checked], dtype=np.int64) for key in ACTION_KEYS}
    batched["camera"] = np.stack([a["camera"] for a in checked]).astype(np.float32)
    batched["hotbar"] = np.array([a["hotbar"] for a in checked], dtype=np.int64)
    return batched


def unstack(batched: Mapping[str, Any]) -> list[Action]:
    """Split a batched dict (leading shape *B) into a list of canonical actions, C order.

    Args:
        batched: see ``validate_batched``.

    Returns:
        ``prod(B)`` canonical action dicts.

    Raises:
        gymnasium.error.InvalidAction: the batch is invalid.
    """
    checked = validate_batched(batched)
    camera = checked["camera"].reshape(-1, 2)
    flat = {key: checked[key].reshape(-1) for key in (*ACTION_KEYS, "hotbar")}
    actions = []
    for i in range(camera.shape[0]):
        action: Action = {key: int(flat[key][i]) for key in ACTION_KEYS}
        action["camera"] = camera[i].copy()
        action["hotbar"] = int(flat["hotbar"][i])
        actions.append(action)
    return actions


def _normalise_camera(degrees: np.ndarray) -> np.ndarray:
    """``degrees / CAMERA_MAX_DEG`` in float64, rounded once to float32 (error <= 0.5 ulp)."""
    return (np.asarray(degrees, dtype=np.float64) / CAMERA_MAX_DEG).astype(np.float32)


def _trailing_zero_bits(values: np.ndarray) -> np.ndarray:
    """Trailing zero bits of the float32 significands (implicit leading bit included)."""
    significand = (values.view(np.uint32) & np.uint32(0x7FFFFF)) | np.uint32(0x800000)
    lowest_bit = significand & (~significand + np.uint32(1))
    return np.log2(lowest_bit.astype(np.float64)).astype(np.int64)


def _decode_camera(normalised: np.ndarray) -> np.ndarray:
    """float32 degrees whose ``_normalise_camera`` is exactly ``normalised``, preferring round ones.

    ``/ 180`` maps several float32 angles to one float32 value, so the original cannot always
    be told apart. The candidates are the float32 nearest to ``normalised * 180`` and its two
    neighbours; of those that encode back to ``normalised`` the one with the shortest binary
    significand wins (ties: the nearest), so integers and binary fractions come back exactly.
    """
    target = normalised.astype(np.float32)
    nearest = (target.astype(np.float64) * CAMERA_MAX_DEG).astype(np.float32)
    candidates = np.stack([nearest, np.nextafter(nearest, -np.inf), np.nextafter(nearest, np.inf)])
    valid = _normalise_camera(candidates) == target
    is_nearest = np.zeros(candidates.shape, dtype=np.int64)
    is_nearest[0] = 1
    score = np.where(valid, 2 * _trailing_zero_bits(candidates) + is_nearest, -1)
    best = np.take_along_axis(candidates, np.argmax(score, axis=0)[None], axis=0)[0]
    return np.clip(best, -CAMERA_MAX_DEG, CAMERA_MAX_DEG)


def _encode(batched: Mapping[str, np.ndarray]) -> np.ndarray:
    """Flat float32 (*B, FLAT_DIM) of an already validated batched dict."""
    batch_shape = batched["camera"].shape[:-1]
    flat = np.zeros((*batch_shape, FLAT_DIM), dtype=np.float32)
    flat[..., FLAT_KEYS] = np.stack([batched[key] for key in ACTION_KEYS], axis=-1)
    flat[..., FLAT_CAMERA] = _normalise_camera(batched["camera"])
    flat[..., FLAT_HOTBAR] = np.eye(NUM_HOTBAR + 1, dtype=np.float32)[batched["hotbar"]]
    return flat


def to_flat(action_or_batch: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Encode actions as the flat float32 vector models consume.

    Layout (``FLAT_DIM`` = 21): ``[0:9]`` the binary keys in ``ACTION_KEYS`` order (0.0/1.0);
    ``[9:11]`` ``camera / CAMERA_MAX_DEG`` = (pitch, yaw) in [-1, 1]; ``[11:21]`` one-hot hotbar
    (index 0 = keep, k = slot k).

    Args:
        action_or_batch: one action dict (camera shape (2,)), a batched dict (camera shape
            (*B, 2)), or a sequence of B action dicts.

    Returns:
        float32 array of shape (21,), (*B, 21) or (B, 21) respectively.

    Raises:
        gymnasium.error.InvalidAction: an action is invalid.
        ValueError: an empty sequence was given.
    """
    if isinstance(action_or_batch, Mapping):
        if np.ndim(action_or_batch.get("camera")) <= 1:
            return to_flat_batch([action_or_batch])[0]
        return _encode(validate_batched(action_or_batch))
    return to_flat_batch(action_or_batch)


def to_flat_batch(actions: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Encode a sequence of B actions as flat float32 (B, 21); see ``to_flat`` for the layout.

    Args:
        actions: B >= 1 action dicts.

    Returns:
        float32 array (B, FLAT_DIM).

    Raises:
        gymnasium.error.InvalidAction: an action is invalid.
        ValueError: ``actions`` is empty.
    """
    return _encode(stack(actions))


def _as_numpy(flat: Any) -> np.ndarray:
    if hasattr(flat, "detach"):  # torch.Tensor, without importing torch here
        flat = flat.detach().cpu().numpy()
    array = np.asarray(flat)
    if array.dtype.kind not in "biuf" or array.ndim < 1 or array.shape[-1] != FLAT_DIM:
        raise ValueError(
            f"flat actions must be real arrays of shape (..., {FLAT_DIM}), got dtype {array.dtype} "
            f"shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError("flat actions must be finite")
    return array


def decode_flat(flat: Any) -> dict[str, np.ndarray]:
    """Decode flat vectors (..., 21), exact or model outputs, into a batched dict.

    Decoding rule (the inverse of ``to_flat`` on its outputs, and a sensible reading of model
    outputs): a key is pressed when its entry is >= 0.5; camera = ``clip(entry, -1, 1) * 180``
    as the float32 whose encoding is exactly the (float32) entry, the roundest such number when
    several are (see ``from_flat``); hotbar = argmax of the 10 one-hot entries (first maximum on
    ties).

    Args:
        flat: NumPy array or torch tensor (any device), real dtype, shape (*B, FLAT_DIM).

    Returns:
        Batched dict: int64 (*B) per binary key and ``hotbar``, float32 ``camera`` (*B, 2).

    Raises:
        ValueError: wrong shape or dtype, or non-finite entries.
    """
    array = _as_numpy(flat).astype(np.float64)
    batched = {key: (array[..., i] >= 0.5).astype(np.int64) for i, key in enumerate(ACTION_KEYS)}
    batched["camera"] = _decode_camera(np.clip(array[..., FLAT_CAMERA], -1.0, 1.0))
    batched["hotbar"] = np.argmax(array[..., FLAT_HOTBAR], axis=-1).astype(np.int64)
    return batched


def from_flat(flat: Any) -> Action:
    """Decode one flat vector (21,) into a canonical action; see ``decode_flat`` for the rule.

    Round trip ``from_flat(to_flat(a))``: keys and hotbar are exact; the camera is bit-exact for
    integer and binary-fraction angles (15, 0.5, 0.125 degrees...) and within 1 float32 ulp
    otherwise (bit-exact for ~88% of uniformly drawn float32 angles, ~90% of VPT's 0.15-degree
    multiples). No float32 encoding of ``camera / 180`` can be bit-exact for every float32
    angle: there are more float32 numbers in [0, 180] than in [0, 1]. The other direction is
    exact: ``to_flat(from_flat(v)) == v`` for every ``v`` that ``to_flat`` produces.

    Args:
        flat: NumPy array or torch tensor of shape (FLAT_DIM,).

    Returns:
        Canonical action dict.

    Raises:
        ValueError: the input is not a finite real vector of shape (21,).
    """
    array = _as_numpy(flat)
    if array.shape != (FLAT_DIM,):
        raise ValueError(f"from_flat takes one vector of shape ({FLAT_DIM},), got {array.shape}")
    return flat_to_dicts(array)[0]


def flat_to_dicts(flat: Any) -> list[Action]:
    """Decode flat vectors (*B, 21) into ``prod(B)`` canonical actions, C order.

    Args:
        flat: NumPy array or torch tensor of shape (*B, FLAT_DIM) or (FLAT_DIM,).

    Returns:
        List of canonical action dicts.

    Raises:
        ValueError: wrong shape or dtype, or non-finite entries.
    """
    return unstack(decode_flat(flat))
