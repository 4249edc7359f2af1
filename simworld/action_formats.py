"""Converters between the canonical action (``simworld.actions``) and external formats.

Formats: MineRL 0.4 and 1.0 action dicts, OpenAI VPT contractor ``.jsonl`` records, and the
25-dim action vector of Oasis (open-oasis). Every importer (``from_*``) drops what the canonical
schema cannot hold; when a dropped entry is non-zero it warns with ``LossyActionWarning``
(default, ``strict=False``) or raises ``ValueError`` naming the entries (``strict=True``).
Silence the warning with ``warnings.simplefilter("ignore", LossyActionWarning)``.

Sources (checked against the public code; paths are inside each repository):

- MineRL: minerllabs/minerl ``minerl/herobraine/env_specs/simple_embodiment.py`` (0.4 keyboard
  keys), ``navigate_specs.py`` (``place`` enum), ``human_controls.py`` (1.0 keys, ``hotbar.1..9``),
  ``minerl/herobraine/hero/handlers/agent/actions/camera.py`` (``Box(-180, 180, (2,))``,
  ``<delta_pitch, delta_yaw>`` degrees); the full 1.0 key set as VPT checks it in
  openai/Video-Pre-Training ``agent.py`` (``TARGET_ACTION_SPACE``).
- VPT: openai/Video-Pre-Training ``run_inverse_dynamics_model.py`` (``KEYBOARD_BUTTON_MAPPING``,
  ``CAMERA_SCALER = 360.0 / 2400.0``, ``json_action_to_env_action``), ``data_loader.py`` (stuck
  attack, hotbar field, null actions), ``README.md`` ("Data format" of the jsonl).
- Oasis: open-oasis ``utils.py`` (``ACTION_KEYS``, ``one_hot_actions``; read in the forks
  yeyutaihan/open-oasis and eitanturok/open-oasis, the index holds only ``generate.py`` of
  etched-ai/open-oasis) and etched-ai/open-oasis issue #9 (``compress_mouse``, the camera
  quantisation whose output ``one_hot_actions`` expects).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from simworld.actions import ACTION_KEYS, CAMERA_MAX_DEG, NUM_HOTBAR, Action, noop, validate


class LossyActionWarning(UserWarning):
    """An importer dropped a non-zero entry that the canonical action cannot represent."""


def _report_dropped(dropped: list[str], conversion: str, strict: bool) -> None:
    """Warn (or raise, if ``strict``) that ``conversion`` loses the non-zero entries ``dropped``."""
    if not dropped:
        return
    message = f"{conversion}: non-zero entries {sorted(dropped)} have no equivalent in the target"
    if strict:
        raise ValueError(f"{message}; pass strict=False to drop them")
    warnings.warn(f"{message}; dropped", LossyActionWarning, stacklevel=3)


def _is_nonzero(value: Any) -> bool:
    """Tell whether ``value`` is set: not 0, False, an all-zero array or the enum string "none"."""
    if isinstance(value, str):
        return value != "none"
    array = np.asarray(value)
    if array.dtype.kind in "US":
        return bool(np.any(array != "none"))
    return bool(np.any(array != 0))


def _flag(value: Any, name: str) -> int:
    array = np.asarray(value)
    if array.shape != () or array.dtype.kind not in "biuf" or array not in (0, 1):
        raise ValueError(f"{name!r} must be a scalar 0 or 1, got {value!r}")
    return int(array)


# --------------------------------------------------------------------------------------- MineRL

MINERL_VERSIONS = ("0.4", "1.0")
"""MineRL action-space versions handled by ``to_minerl`` / ``from_minerl``."""

MINERL_04_KEYS: tuple[str, ...] = ("forward", "back", "left", "right", "jump", "sneak", "sprint", "attack")
"""Binary keys of MineRL 0.4 (``SimpleEmbodimentEnvSpec``, e.g. MineRLTreechop-v0); plus camera."""

MINERL_04_DROPPED: tuple[str, ...] = ("place", "equip", "craft", "nearbyCraft", "nearbySmelt")
"""MineRL 0.4 enum actions (Navigate's ``place``, ObtainDiamond's crafting) with no canonical
equivalent; their zero value is ``"none"`` (or 0)."""

MINERL_10_HOTBAR: tuple[str, ...] = tuple(f"hotbar.{k}" for k in range(1, NUM_HOTBAR + 1))
"""MineRL 1.0 hotbar keys, ``hotbar.k`` selects slot k."""

MINERL_10_DROPPED: tuple[str, ...] = ("ESC", "drop", "inventory", "pickItem", "swapHands")
"""MineRL 1.0 (VPT / HumanSurvival) binary keys with no canonical equivalent."""

MINERL_10_KEYS: tuple[str, ...] = (*ACTION_KEYS, *MINERL_10_HOTBAR, *MINERL_10_DROPPED)
"""All binary keys of MineRL 1.0; plus camera."""


def _minerl_keys(version: str) -> tuple[str, ...]:
    if version == "0.4":
        return MINERL_04_KEYS
    if version == "1.0":
        return (*ACTION_KEYS, *MINERL_10_HOTBAR)
    raise ValueError(f"version must be one of {MINERL_VERSIONS}, got {version!r}")


def to_minerl(action: Mapping[str, Any], version: str = "1.0", *, strict: bool = False) -> dict[str, Any]:
    """Convert a canonical action to a MineRL action dict.

    1.0: all keys of the VPT / HumanSurvival space; ``hotbar`` = k sets ``hotbar.k`` = 1, the
    keys we lack (``ESC, drop, inventory, pickItem, swapHands``) are 0. 0.4: the eight keyboard
    keys and ``camera`` of ``SimpleEmbodimentEnvSpec``; 0.4 has no ``use`` and no hotbar, so a
    non-zero ``use`` or ``hotbar`` is lossy. Envs with enum actions (Navigate's ``place``,
    ObtainDiamond's ``craft``...) need them added by the caller, e.g. ``{**out, "place": "none"}``.
    The camera is copied unchanged: MineRL and this schema share the convention.

    Args:
        action: a canonical action (checked with ``validate``).
        version: one of ``MINERL_VERSIONS``.
        strict: raise instead of warning when ``use`` / ``hotbar`` are lost (0.4 only).

    Returns:
        Dict of Python ints and a float32 ``camera`` of shape (2,).

    Raises:
        gymnasium.error.InvalidAction: ``action`` is invalid.
        ValueError: unknown ``version``, or ``strict`` and a value is lost.
    """
    action = validate(action)
    keys = _minerl_keys(version)
    out: dict[str, Any] = {key: action[key] for key in keys if key in ACTION_KEYS}
    if version == "1.0":
        out.update({key: int(action["hotbar"] == k) for k, key in enumerate(MINERL_10_HOTBAR, 1)})
        out.update({key: 0 for key in MINERL_10_DROPPED})
    else:
        lost = [key for key in ("use", "hotbar") if action[key] != 0]
        _report_dropped(lost, "canonical -> MineRL 0.4", strict)
    out["camera"] = action["camera"].copy()
    return out


def from_minerl(minerl_action: Mapping[str, Any], version: str = "1.0", *, strict: bool = False) -> Action:
    """Convert a MineRL action dict to a canonical action.

    Binary keys and camera map one to one. 1.0: when several ``hotbar.k`` are 1, the largest k
    wins, as in Minecraft's ``processKeyBinds`` loop (slots 1..9 in order, each pressed one
    overwriting ``currentItem``). Dropped: 0.4 ``place, equip, craft, nearbyCraft, nearbySmelt``;
    1.0 ``ESC, drop, inventory, pickItem, swapHands``; and any other unknown key. Canonical keys
    absent from 0.4 (``use``, ``hotbar``) are 0.

    Args:
        minerl_action: one step (scalars, not a batch) of the given ``version``.
        version: one of ``MINERL_VERSIONS``.
        strict: raise ``ValueError`` instead of warning when a dropped entry is non-zero.

    Returns:
        Canonical action dict.

    Raises:
        ValueError: unknown ``version``, a required key is missing, a key is not 0/1, or
            ``strict`` and a dropped entry is non-zero.
        gymnasium.error.InvalidAction: the camera is out of range or not finite.
    """
    required = (*_minerl_keys(version), "camera")
    missing = [key for key in required if key not in minerl_action]
    if missing:
        raise ValueError(f"MineRL {version} action lacks keys {missing}; expected at least {list(required)}")
    action = noop()
    for key in ACTION_KEYS:
        if key in required:
            action[key] = _flag(minerl_action[key], key)
    if version == "1.0":
        for k, key in enumerate(MINERL_10_HOTBAR, 1):
            if _flag(minerl_action[key], key):
                action["hotbar"] = k
    action["camera"] = minerl_action["camera"]
    dropped = [key for key, value in minerl_action.items() if key not in required and _is_nonzero(value)]
    _report_dropped(dropped, f"MineRL {version} -> canonical", strict)
    return validate(action)


# ------------------------------------------------------------------------------------------ VPT

VPT_CAMERA_SCALER = 360.0 / 2400.0
"""Degrees per recorded mouse count (``CAMERA_SCALER`` of VPT ``run_inverse_dynamics_model.py``)."""

VPT_KEY_TO_CANONICAL: dict[str, str] = {
    "key.keyboard.w": "forward",
    "key.keyboard.s": "back",
    "key.keyboard.a": "left",
    "key.keyboard.d": "right",
    "key.keyboard.space": "jump",
    "key.keyboard.left.shift": "sneak",
    "key.keyboard.left.control": "sprint",
}
"""Keyboard keys of VPT's ``KEYBOARD_BUTTON_MAPPING`` that map to canonical binary keys."""

VPT_HOTBAR_KEYS: tuple[str, ...] = tuple(f"key.keyboard.{k}" for k in range(1, NUM_HOTBAR + 1))
"""Digit keys; VPT maps ``key.keyboard.k`` to ``hotbar.k``."""

VPT_DROPPED_KEYS: dict[str, str] = {
    "key.keyboard.escape": "ESC",
    "key.keyboard.q": "drop",
    "key.keyboard.e": "inventory",
    "key.keyboard.f": "swapHands",
}
"""Keys VPT maps to MineRL actions that have no canonical equivalent (MineRL names)."""

VPT_BUTTONS: dict[int, str] = {0: "attack", 1: "use", 2: "pickItem"}
"""Mouse buttons as VPT maps them; ``pickItem`` has no canonical equivalent."""


def is_vpt_null_action(record: Mapping[str, Any]) -> bool:
    """VPT's "null action" test, for reproducing its filtering (``data_loader.py`` skips them).

    True when no key of VPT's ``KEYBOARD_BUTTON_MAPPING`` is held, ``dx == dy == 0`` and no
    mouse button 0, 1 or 2 is held. As in VPT, a hotbar change through the scroll wheel alone
    still counts as null, and VPT applies this after its stuck-attack fix.

    Args:
        record: one parsed jsonl line.

    Returns:
        Whether VPT would drop this frame from behavioural-cloning data.
    """
    mapped = {*VPT_KEY_TO_CANONICAL, *VPT_HOTBAR_KEYS, *VPT_DROPPED_KEYS}
    mouse = record["mouse"]
    return (
        not any(key in mapped for key in record["keyboard"]["keys"])
        and mouse["dx"] == 0
        and mouse["dy"] == 0
        and not any(button in VPT_BUTTONS for button in mouse["buttons"])
    )


def from_vpt_jsonl_record(record: Mapping[str, Any], prev_hotbar: int, *, strict: bool = False) -> Action:
    """Convert one VPT contractor jsonl record (one frame) to a canonical action.

    Follows ``json_action_to_env_action`` and the hotbar update of ``data_loader.py``:

    - ``keyboard.keys`` (held keys) map through ``VPT_KEY_TO_CANONICAL``; other keys are
      ignored, except ESC/q/e/f which VPT maps to MineRL actions we lack (lossy, reported).
    - ``camera = [dy, dx] * 360 / 2400`` degrees: mouse dy (screen y grows down) is pitch, dx
      is yaw. VPT's loader stores these in an integer array, truncating them toward zero
      (openai/Video-Pre-Training issue #54); we keep the full value. A component above 180°
      in magnitude is set to 0, the evident intent of VPT's check (dead code in its current
      version, issue #49); the canonical range allows no more.
    - ``mouse.buttons``: 0 = attack, 1 = use, 2 = pickItem (lossy, reported).
    - hotbar: if the record's ``hotbar`` field (0-based slot, 0..8) differs from
      ``prev_hotbar``, the action selects slot ``hotbar + 1`` (this catches scroll-wheel
      changes, which VPT notes the recorder does not capture); otherwise a held digit key k
      selects slot k (the largest if several); otherwise 0.
    - ``isGuiOpen`` is not used: VPT also maps mouse motion with a GUI open to the camera and
      only draws the cursor onto the frame; ``MINEREC_VERSION_SPECIFIC_SCALERS`` (GUI mouse
      scaling of recorder 5.x/6.x) is defined in ``data_loader.py`` but never applied there.
    - Null actions are kept; see ``is_vpt_null_action`` to filter like VPT.

    Args:
        record: one parsed jsonl line with ``mouse.{dx, dy, buttons}``, ``keyboard.keys`` and,
            optionally, ``hotbar``.
        prev_hotbar: the previous record's ``hotbar`` field, 0-based (VPT starts with 0).
        strict: raise instead of warning when a dropped entry is non-zero.

    Returns:
        Canonical action dict.

    Raises:
        ValueError: ``strict`` and ESC, drop, inventory, swapHands or pickItem is pressed.
        KeyError: the record lacks ``mouse`` or ``keyboard`` fields.
    """
    action = noop()
    keys = record["keyboard"]["keys"]
    for key in keys:
        if key in VPT_KEY_TO_CANONICAL:
            action[VPT_KEY_TO_CANONICAL[key]] = 1
    held_slots = [k for k, key in enumerate(VPT_HOTBAR_KEYS, 1) if key in keys]
    hotbar_field = record.get("hotbar", prev_hotbar)
    if hotbar_field != prev_hotbar:
        action["hotbar"] = int(hotbar_field) + 1
    elif held_slots:
        action["hotbar"] = max(held_slots)
    mouse = record["mouse"]
    camera = np.array([mouse["dy"], mouse["dx"]], dtype=np.float64) * VPT_CAMERA_SCALER
    camera[np.abs(camera) > CAMERA_MAX_DEG] = 0.0
    action["camera"] = camera.astype(np.float32)
    buttons = mouse["buttons"]
    action["attack"] = int(0 in buttons)
    action["use"] = int(1 in buttons)
    dropped = [name for key, name in VPT_DROPPED_KEYS.items() if key in keys]
    dropped += ["pickItem"] if 2 in buttons else []
    _report_dropped(dropped, "VPT -> canonical", strict)
    return validate(action)


def from_vpt_jsonl_records(
    records: Iterable[Mapping[str, Any]], *, fix_stuck_attack: bool = True, strict: bool = False
) -> tuple[list[Action], np.ndarray]:
    """Convert a whole VPT recording (the jsonl lines in order) to canonical actions.

    Tracks the hotbar field from 0, as ``data_loader.py`` does. With ``fix_stuck_attack``,
    reproduces its workaround for recordings that start with attack stuck down: if the first
    record's ``mouse.newButtons`` is ``[0]``, button 0 is removed from ``mouse.buttons`` until
    a later record has 0 in ``newButtons``. Input records are not modified.

    Args:
        records: parsed jsonl lines, in order.
        fix_stuck_attack: apply VPT's stuck-attack workaround.
        strict: see ``from_vpt_jsonl_record``.

    Returns:
        ``(actions, is_null)``: one canonical action per record, and a bool array (T,) of
        ``is_vpt_null_action`` evaluated after the workaround, to filter like VPT.
    """
    actions, is_null = [], []
    prev_hotbar, attack_is_stuck = 0, False
    for i, record in enumerate(records):
        if fix_stuck_attack:
            if i == 0:
                attack_is_stuck = list(record["mouse"].get("newButtons", [])) == [0]
            elif attack_is_stuck and 0 in record["mouse"].get("newButtons", []):
                attack_is_stuck = False
            if attack_is_stuck:
                mouse = {**record["mouse"], "buttons": [b for b in record["mouse"]["buttons"] if b != 0]}
                record = {**record, "mouse": mouse}
        actions.append(from_vpt_jsonl_record(record, prev_hotbar, strict=strict))
        is_null.append(is_vpt_null_action(record))
        prev_hotbar = record.get("hotbar", prev_hotbar)
    return actions, np.array(is_null, dtype=bool)


def to_vpt_jsonl_record(action: Mapping[str, Any], prev_hotbar: int = 0) -> dict[str, Any]:
    """Write a canonical action as a minimal VPT jsonl record.

    Inverse of ``from_vpt_jsonl_record`` for every canonical action, given the same
    ``prev_hotbar``: camera to ``dy, dx`` mouse counts (``/ VPT_CAMERA_SCALER``, floats),
    attack/use to buttons 0/1, keys to ``key.keyboard.*``, ``hotbar`` = k to the field ``k - 1``
    plus the held digit key (so re-selecting the current slot survives). Fields the canonical
    action does not determine are neutral: ``newButtons`` and ``newKeys`` empty, ``isGuiOpen``
    false; cursor ``x, y``, ``dwheel``, stats and the like are omitted.

    Args:
        action: a canonical action (checked with ``validate``).
        prev_hotbar: the 0-based hotbar field of the previous record.

    Returns:
        Dict with ``mouse``, ``keyboard``, ``hotbar`` and ``isGuiOpen``, JSON-serialisable.
    """
    action = validate(action)
    canonical_to_key = {name: key for key, name in VPT_KEY_TO_CANONICAL.items()}
    keys = [canonical_to_key[name] for name in ACTION_KEYS if name in canonical_to_key and action[name]]
    hotbar = prev_hotbar
    if action["hotbar"]:
        keys.append(VPT_HOTBAR_KEYS[action["hotbar"] - 1])
        hotbar = action["hotbar"] - 1
    pitch, yaw = (float(np.float64(v) / VPT_CAMERA_SCALER) for v in action["camera"])
    buttons = [button for button, name in VPT_BUTTONS.items() if name in ACTION_KEYS and action[name]]
    return {
        "mouse": {"dx": yaw, "dy": pitch, "buttons": buttons, "newButtons": []},
        "keyboard": {"keys": keys, "newKeys": []},
        "hotbar": int(hotbar),
        "isGuiOpen": False,
    }


# ----------------------------------------------------------------------------------------- Oasis

OASIS_ACTION_KEYS: tuple[str, ...] = (
    "inventory",
    "ESC",
    *MINERL_10_HOTBAR,
    "forward",
    "back",
    "left",
    "right",
    "cameraX",
    "cameraY",
    "jump",
    "sneak",
    "sprint",
    "swapHands",
    "attack",
    "use",
    "pickItem",
    "drop",
)
"""Entry names of the Oasis action vector, in order (open-oasis ``utils.py`` ``ACTION_KEYS``).
``cameraX`` is ``camera[0]`` = pitch and ``cameraY`` is ``camera[1]`` = yaw, despite the names."""

OASIS_DIM = len(OASIS_ACTION_KEYS)
"""Length of the Oasis action vector (25)."""

OASIS_CAMERA_MAX_DEG = 20.0
"""Camera clip of Oasis's ``compress_mouse``, degrees per step."""

OASIS_CAMERA_BIN = 0.5
"""Bin width of ``compress_mouse`` in mu-law-encoded degrees: 81 levels over [-20, 20]."""

OASIS_CAMERA_MU = 2.7
"""mu of the mu-law in ``compress_mouse`` (etched-ai/open-oasis issue #9)."""

_OASIS_INDEX = {name: i for i, name in enumerate(OASIS_ACTION_KEYS)}
_OASIS_DROPPED = ("inventory", "ESC", "swapHands", "pickItem", "drop")
_OASIS_LEVELS = OASIS_CAMERA_MAX_DEG / OASIS_CAMERA_BIN  # 40 bins each side of 0


def to_oasis(action: Mapping[str, Any], *, quantize: bool = True) -> np.ndarray:
    """Encode a canonical action as the 25-dim float vector Oasis is conditioned on.

    Entries follow ``OASIS_ACTION_KEYS``: binary keys 0/1, ``hotbar.k`` one-hot (all 0 for
    hotbar 0), ``inventory, ESC, swapHands, pickItem, drop`` always 0. Each camera component
    goes through ``compress_mouse`` then ``one_hot_actions``' ``(v - 40) / 40``::

        x = clip(deg, -20, 20) / 20
        y = sign(x) * log(1 + 2.7 |x|) / log(1 + 2.7)      # mu-law, in [-1, 1]
        entry = round(40 * y) / 40                           # if quantize

    Lossy: camera beyond ±20° per step is clipped; with ``quantize`` (the values Oasis saw in
    training) the camera is rounded to 81 levels, about ±0.09° near 0 and ±0.4° near ±20°.
    Also note Oasis's training camera came through VPT's loader, which truncated degrees to
    integers first (open-oasis issue #48); this encoder does not emulate that.

    Args:
        action: a canonical action (checked with ``validate``).
        quantize: round the camera to Oasis's 81 levels; False keeps the continuous mu-law value.

    Returns:
        float32 array (25,), camera entries in [-1, 1].
    """
    action = validate(action)
    vector = np.zeros(OASIS_DIM, dtype=np.float32)
    for key in ACTION_KEYS:
        vector[_OASIS_INDEX[key]] = action[key]
    if action["hotbar"]:
        vector[_OASIS_INDEX[f"hotbar.{action['hotbar']}"]] = 1.0
    x = np.clip(action["camera"].astype(np.float64), -OASIS_CAMERA_MAX_DEG, OASIS_CAMERA_MAX_DEG)
    x = x / OASIS_CAMERA_MAX_DEG
    y = np.sign(x) * np.log1p(OASIS_CAMERA_MU * np.abs(x)) / np.log1p(OASIS_CAMERA_MU)
    if quantize:
        y = np.round(y * _OASIS_LEVELS) / _OASIS_LEVELS
    vector[[_OASIS_INDEX["cameraX"], _OASIS_INDEX["cameraY"]]] = y
    return vector


def from_oasis(vector: Any, *, strict: bool = False) -> Action:
    """Decode a 25-dim Oasis action vector into a canonical action.

    Binary entries are pressed when >= 0.5; the hotbar is the largest k with ``hotbar.k`` >=
    0.5 (as ``from_minerl``); camera entries are clipped to [-1, 1] and the mu-law inverted:
    ``deg = 20 * sign(y) * ((1 + 2.7)^|y| - 1) / 2.7``. Exact inverse of ``to_oasis(...,
    quantize=False)`` within ±20° (float32 precision); ``from_oasis(to_oasis(a))`` recovers the
    camera to Oasis's quantisation. Dropped: ``inventory, ESC, swapHands, pickItem, drop``.

    Args:
        vector: array-like or torch tensor of shape (25,).
        strict: raise instead of warning when a dropped entry is >= 0.5.

    Returns:
        Canonical action dict.

    Raises:
        ValueError: wrong shape, non-finite entries, or ``strict`` and a dropped entry is set.
    """
    if hasattr(vector, "detach"):  # torch.Tensor
        vector = vector.detach().cpu().numpy()
    values = np.asarray(vector, dtype=np.float64)
    if values.shape != (OASIS_DIM,) or not np.all(np.isfinite(values)):
        raise ValueError(f"an Oasis action is a finite vector of shape ({OASIS_DIM},), got {values.shape}")
    pressed = {name: int(values[i] >= 0.5) for name, i in _OASIS_INDEX.items()}
    action = noop()
    for key in ACTION_KEYS:
        action[key] = pressed[key]
    for k, key in enumerate(MINERL_10_HOTBAR, 1):
        if pressed[key]:
            action["hotbar"] = k
    y = np.clip(values[[_OASIS_INDEX["cameraX"], _OASIS_INDEX["cameraY"]]], -1.0, 1.0)
    x = np.sign(y) * np.expm1(np.abs(y) * np.log1p(OASIS_CAMERA_MU)) / OASIS_CAMERA_MU
    action["camera"] = (x * OASIS_CAMERA_MAX_DEG).astype(np.float32)
    _report_dropped([name for name in _OASIS_DROPPED if pressed[name]], "Oasis -> canonical", strict)
    return validate(action)
