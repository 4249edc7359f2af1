"""Two-view geometry for the 3D-consistency probes: camera poses, epipolar errors, keypoint pose
estimation and depth-based warping.

Conventions (one implementation, shared by ``Geometry`` and ``Reprojection``):

- A **pose** is the ground-truth row ``eye x, y, z, yaw, pitch`` (degrees) in Minecraft's world
  frame: x east, y up, z south; yaw 0 looks along +z and grows turning right (yaw 90 looks along
  -x); pitch grows looking down. This is the renderer's camera (``envs.voxel.render``).
- **Camera coordinates** are OpenCV's: x right, y down, z forward. ``camera_to_world`` gives the
  rotation whose columns are the camera's right, down and forward axes in the world, so that
  ``X_world = R_cw @ X_cam + eye``.
- **Pixels**: K is OpenCV's pinhole matrix with pixel centres at integer + 0.5 (the renderer
  shoots the ray of pixel (row i, column j) through ``(j + 0.5, i + 0.5)``), and depth is planar
  (the z of the camera point), so ``X_cam = depth * K^-1 [j + 0.5, i + 0.5, 1]``. Keypoint
  positions from OpenCV (pixel centres at integers) are shifted by +0.5 into this convention.
- The **relative pose** of camera 2 with respect to camera 1 is ``(R, t)`` with
  ``X_cam2 = R @ X_cam1 + t`` — what ``cv2.recoverPose(E, x1, x2, K)`` estimates (t up to scale).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

DETECTORS = ("auto", "sift", "orb")
"""Keypoint detectors: "auto" is SIFT when ``cv2.SIFT_create`` exists, else ORB."""

SIFT_CONTRAST_THRESHOLD = 0.01
"""SIFT's contrast threshold (OpenCV default 0.04): small rendered frames have low local contrast."""

MAX_KEYPOINTS = 1000
"""Keypoints kept per frame (the strongest): bounds the brute-force matching on noisy frames."""

LOWE_RATIO = 0.8
"""Lowe's ratio test: keep a match when its descriptor distance is < 0.8 × the second best's."""

MIN_FRAME_SIDE = 16
"""Frames whose short side is smaller than this are not searched for keypoints."""


# --------------------------------------------------------------------------------------- cameras


def camera_to_world(pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera-to-world rotation and camera centre of a pose.

    Args:
        pose: float (5,) eye x, y, z, yaw, pitch (degrees, Minecraft conventions).

    Returns:
        ``(R_cw, eye)``: float64 (3, 3) with columns (right, down, forward) in world coordinates,
        and float64 (3,) eye, so that ``X_world = R_cw @ X_cam + eye``.
    """
    pose = np.asarray(pose, np.float64)
    yaw, pitch = math.radians(pose[3]), math.radians(pose[4])
    fwd = np.array([-math.sin(yaw) * math.cos(pitch), -math.sin(pitch), math.cos(yaw) * math.cos(pitch)])
    right = np.array([-math.cos(yaw), 0.0, -math.sin(yaw)])
    down = np.cross(fwd, right)  # = -(right × forward), the renderer's -up
    return np.stack([right, down, fwd], axis=1), pose[:3].copy()


def relative_pose(pose1: np.ndarray, pose2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Motion of camera 2 relative to camera 1 in OpenCV camera coordinates.

    Args:
        pose1: float (5,) pose of the first view.
        pose2: float (5,) pose of the second view.

    Returns:
        ``(R, t)``: float64 (3, 3) and (3,) with ``X_cam2 = R @ X_cam1 + t`` (t in world units,
        blocks). ``|t|`` is the distance between the two camera centres.
    """
    R1, e1 = camera_to_world(pose1)
    R2, e2 = camera_to_world(pose2)
    return R2.T @ R1, R2.T @ (e1 - e2)


def skew(v: np.ndarray) -> np.ndarray:
    """float64 (3, 3) cross-product matrix ``[v]_x`` (``[v]_x @ w == v × w``)."""
    x, y, z = np.asarray(v, np.float64)
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


def fundamental_matrix(R: np.ndarray, t: np.ndarray, K: np.ndarray) -> np.ndarray:
    """float64 (3, 3) ``F = K^-T [t]_x R K^-1`` so that ``x2^T F x1 = 0`` for pixels of one point."""
    Kinv = np.linalg.inv(K)
    return Kinv.T @ skew(t) @ R @ Kinv


def sampson_error(F: np.ndarray, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """Sampson (first-order geometric) epipolar error of correspondences, in pixels.

    ``sqrt((x2^T F x1)^2 / ((F x1)_1^2 + (F x1)_2^2 + (F^T x2)_1^2 + (F^T x2)_2^2))`` (Hartley &
    Zisserman, Multiple View Geometry, 2nd ed., eq. 11.9), the first-order approximation of the
    distance by which the two points must move to satisfy the epipolar constraint.

    Args:
        F: float (3, 3) fundamental matrix.
        x1: float (N, 2) pixels in view 1 (K's convention).
        x2: float (N, 2) corresponding pixels in view 2.

    Returns:
        float64 (N,) errors in pixels.
    """
    h1 = np.concatenate([np.asarray(x1, np.float64), np.ones((len(x1), 1))], axis=1)
    h2 = np.concatenate([np.asarray(x2, np.float64), np.ones((len(x2), 1))], axis=1)
    Fx1, Ftx2 = h1 @ F.T, h2 @ F
    num = np.abs(np.sum(h2 * Fx1, axis=1))
    den = np.sqrt(Fx1[:, 0] ** 2 + Fx1[:, 1] ** 2 + Ftx2[:, 0] ** 2 + Ftx2[:, 1] ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1e-300), np.where(num > 0, np.inf, 0.0))


def rotation_angle_deg(R: np.ndarray) -> float:
    """Geodesic angle of a rotation, degrees in [0, 180]: ``arccos((trace R - 1) / 2)``."""
    return math.degrees(math.acos(float(np.clip((np.trace(R) - 1.0) / 2.0, -1.0, 1.0))))


def rotation_error_deg(R_est: np.ndarray, R_true: np.ndarray) -> float:
    """Geodesic distance between two rotations, degrees: the angle of ``R_est @ R_true^T``."""
    return rotation_angle_deg(np.asarray(R_est) @ np.asarray(R_true).T)


def direction_error_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle between two vectors' directions, degrees in [0, 180]."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    c = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    return math.degrees(math.acos(float(np.clip(c, -1.0, 1.0))))


# ------------------------------------------------------------------------------ keypoints, pose


def resolve_detector(detector: str) -> str:
    """ "sift" or "orb" for a ``DETECTORS`` name.

    Raises:
        ValueError: unknown name, or "sift" asked for on an OpenCV without SIFT.
    """
    if detector not in DETECTORS:
        raise ValueError(f"unknown detector {detector!r}; valid: {', '.join(DETECTORS)}")
    has_sift = hasattr(cv2, "SIFT_create")
    if detector == "sift" and not has_sift:
        raise ValueError("detector 'sift' needs cv2.SIFT_create (OpenCV >= 4.4); use 'orb' or 'auto'")
    if detector == "auto":
        return "sift" if has_sift else "orb"
    return detector


def _sift() -> Any:
    """SIFT with ``enable_precise_upscale`` where OpenCV has it (>= 4.8): without it the first
    octave's upsampling shifts keypoints by about a quarter pixel (measured in the tests)."""
    try:
        return cv2.SIFT_create(
            nfeatures=MAX_KEYPOINTS, contrastThreshold=SIFT_CONTRAST_THRESHOLD, enable_precise_upscale=True
        )
    except TypeError:
        return cv2.SIFT_create(nfeatures=MAX_KEYPOINTS, contrastThreshold=SIFT_CONTRAST_THRESHOLD)


@dataclass
class Keypoints:
    """Keypoints of one frame: positions in K's pixel convention and their descriptors."""

    xy: np.ndarray  # float64 (N, 2)
    descriptors: np.ndarray | None  # (N, D) float32 (SIFT) or uint8 (ORB)


def detect(frame: np.ndarray, detector: str = "sift", upscale: int = 2) -> Keypoints:
    """Keypoints of a frame, detected on its grey image upsampled ``upscale`` times (bilinear).

    Small rendered frames yield few keypoints at their own size; positions are mapped back to the
    frame's pixels (``(p + 0.5) / upscale`` for an OpenCV position p of the upsampled image).

    Args:
        frame: uint8 (H, W, 3) RGB.
        detector: "sift" or "orb".
        upscale: integer factor >= 1.
    """
    g = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    if upscale > 1:
        g = cv2.resize(g, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_LINEAR)
    if detector == "sift":
        det = _sift()
    else:
        det = cv2.ORB_create(nfeatures=MAX_KEYPOINTS, edgeThreshold=15, patchSize=15, fastThreshold=5)
    kps, desc = det.detectAndCompute(g, None)
    xy = np.array([k.pt for k in kps], np.float64).reshape(-1, 2)
    return Keypoints((xy + 0.5) / upscale, desc)


def match(a: Keypoints, b: Keypoints, detector: str = "sift") -> tuple[np.ndarray, np.ndarray]:
    """Brute-force nearest-neighbour matches that pass Lowe's ratio test (``LOWE_RATIO``).

    Returns:
        ``(x1, x2)``: float64 (M, 2) matched positions in frame a and frame b.
    """
    empty = np.zeros((0, 2))
    if a.descriptors is None or b.descriptors is None or len(a.xy) < 2 or len(b.xy) < 2:
        return empty, empty
    norm = cv2.NORM_L2 if detector == "sift" else cv2.NORM_HAMMING
    pairs = cv2.BFMatcher(norm).knnMatch(a.descriptors, b.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < LOWE_RATIO * p[1].distance]
    if not good:
        return empty, empty
    return a.xy[[m.queryIdx for m in good]], b.xy[[m.trainIdx for m in good]]


@dataclass
class PoseEstimate:
    """A relative pose estimated from matches.

    Attributes:
        R: float64 (3, 3) rotation (``X_cam2 = R X_cam1 + t``).
        t: float64 (3,) unit translation direction, or None when undefined (no image motion).
        inliers: bool (M,) RANSAC inliers of the essential matrix (all True when static).
        static: the frames show no motion: every match within ``static_px``, R is the identity.
    """

    R: np.ndarray
    t: np.ndarray | None
    inliers: np.ndarray
    static: bool = False


def estimate_pose(
    x1: np.ndarray,
    x2: np.ndarray,
    K: np.ndarray,
    threshold_px: float = 0.5,
    static_px: float = 0.1,
) -> PoseEstimate | None:
    """Relative pose from matches: ``cv2.findEssentialMat`` (RANSAC, known K) + ``cv2.recoverPose``.

    When the median displacement of the matches is below ``static_px`` the frames show no motion:
    the estimate is the identity rotation with an undefined translation (the 5-point solver is
    degenerate there and would return an arbitrary twisted pair).

    Args:
        x1: float (M, 2) pixels in view 1, M >= 5.
        x2: float (M, 2) pixels in view 2.
        K: float (3, 3) intrinsics.
        threshold_px: RANSAC inlier threshold (pixels).
        static_px: median displacement (pixels) below which the frames count as identical.

    Returns:
        The estimate, or None when OpenCV finds no essential matrix.
    """
    x1, x2 = np.asarray(x1, np.float64), np.asarray(x2, np.float64)
    if np.median(np.linalg.norm(x2 - x1, axis=1)) < static_px:
        return PoseEstimate(np.eye(3), None, np.ones(len(x1), bool), static=True)
    cv2.setRNGSeed(0)
    E, mask = cv2.findEssentialMat(x1, x2, K, method=cv2.RANSAC, prob=0.999, threshold=threshold_px)
    if E is None or E.shape[0] < 3 or mask is None:
        return None
    best: tuple[int, np.ndarray, np.ndarray] | None = None
    for i in range(0, E.shape[0] - 2, 3):  # several solutions may come stacked
        n, R, t, _ = cv2.recoverPose(E[i : i + 3], x1, x2, K, mask=mask.copy())
        if best is None or n > best[0]:
            best = (int(n), R, t.ravel())
    assert best is not None
    return PoseEstimate(best[1], best[2], mask.ravel().astype(bool))


# ------------------------------------------------------------------------------------- warping


def pixel_rays(height: int, width: int, K: np.ndarray) -> np.ndarray:
    """float64 (H, W, 3) ``K^-1 [j + 0.5, i + 0.5, 1]`` for every pixel (z = 1)."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    return np.stack([(u + 0.5 - K[0, 2]) / K[0, 0], (v + 0.5 - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=-1)


def warp_to_view(
    source: np.ndarray,
    source_depth: np.ndarray,
    target_depth: np.ndarray,
    source_pose: np.ndarray,
    target_pose: np.ndarray,
    K: np.ndarray,
    depth_tolerance: float = 0.05,
    source_valid: np.ndarray | None = None,
    target_valid: np.ndarray | None = None,
    depth_slack: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Backward-warp a source frame into a target view with the true depths, and its co-visible mask.

    For every target pixel with finite depth, its 3D point (target depth, target pose) is projected
    into the source view; the source frame is sampled there (bilinear, ``cv2.remap``). The pixel is
    co-visible when the point is in front of the source camera, projects inside the source frame,
    and its source-camera depth agrees with the source depth map at the nearest source pixel within
    ``depth_tolerance`` (relative) plus ``depth_slack`` (absolute, for quantised depth maps):
    otherwise it is out of frame or occluded in the source.

    Args:
        source: uint8 (H, W, 3) frame to warp.
        source_depth: float (H, W) planar depth of the source (inf: sky).
        target_depth: float (H, W) planar depth of the target view (inf: sky).
        source_pose: float (5,) pose of the source.
        target_pose: float (5,) pose of the target.
        K: float (3, 3) intrinsics of both views.
        depth_tolerance: relative depth agreement for co-visibility.
        source_valid: optional bool (H, W): source pixels that may be used (e.g. not a mob).
        target_valid: optional bool (H, W): target pixels that may be compared (e.g. not a mob).
        depth_slack: absolute depth agreement added to the relative one (world units; e.g. the
            quantisation step of the depth map).

    Returns:
        ``(warped, mask)``: uint8 (H, W, 3) the source seen from the target pose (meaningful on the
        mask only), and bool (H, W) the co-visible pixels.
    """
    H, W = target_depth.shape
    R, t = relative_pose(target_pose, source_pose)  # X_src = R X_tgt + t
    with np.errstate(invalid="ignore"):
        X = pixel_rays(H, W, K) * np.asarray(target_depth, np.float64)[..., None]
        Xs = X @ R.T + t  # (H, W, 3) in the source camera
    finite = np.isfinite(target_depth)
    Xs = np.where(finite[..., None], Xs, 0.0)
    z = Xs[..., 2]
    front = finite & (z > 1e-6)
    zs = np.where(front, z, 1.0)
    u = K[0, 0] * Xs[..., 0] / zs + K[0, 2]  # continuous source pixel coordinates (centres +0.5)
    v = K[1, 1] * Xs[..., 1] / zs + K[1, 2]
    inside = front & (u >= 0) & (u < W) & (v >= 0) & (v < H)
    col = np.clip(np.floor(u), 0, W - 1).astype(np.int64)
    row = np.clip(np.floor(v), 0, H - 1).astype(np.int64)
    d_src = np.asarray(source_depth, np.float64)[row, col]
    with np.errstate(invalid="ignore"):
        agree = np.isfinite(d_src) & (np.abs(d_src - z) <= depth_tolerance * z + depth_slack)
    mask = inside & agree
    if source_valid is not None:
        mask &= np.asarray(source_valid, bool)[row, col]
    if target_valid is not None:
        mask &= np.asarray(target_valid, bool)
    map_x = np.where(mask, u - 0.5, 0).astype(np.float32)
    map_y = np.where(mask, v - 0.5, 0).astype(np.float32)
    warped = cv2.remap(
        np.ascontiguousarray(source), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return warped, mask
