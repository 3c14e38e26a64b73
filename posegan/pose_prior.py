"""Pose plausibility: how far a pose is from the poses the generator was trained on (issue #15).

The generator only learned the Market-1501 training poses. Given a pose unlike all of them (a wrist above the head)
it draws something it has seen instead, without a word; this module says so before anyone wonders why.

Poses are compared after normalisation: the neck (else the mean of the shown joints) at the origin, lengths in
torso sizes (:func:`posegan.geometry.torso_size`), so where the person stands in the frame and how tall they are
do not matter. Two measures, both calibrated on held-out poses (the Market test annotations) when the prior is built:

  * **pose distance**: RMS over the joints shown in either pose of the per-joint distance to the closest training
    pose, a joint shown in only one of them costing ``MISSING_COST``; "unseen" is beyond the distance that 99 % of
    held-out poses stay within, "typical" within what 90 % do;
  * **joint distance**: for each shown joint, the distance to the ``K``-th closest position of that joint among all
    training poses (the ``K``-th, so that a few mis-detected annotations do not count as "seen"); a joint is far
    when it lies beyond what 99.9 % of held-out joints do (at least ``MIN_JOINT_LIMIT``).

A raised arm changes 2 of 18 joints, so its pose distance rises only about as far as unusual held-out poses go;
the joint distance of its wrist is beyond anything held out. The score combines both: the worse ratio to its
"unseen" limit decides.

    prior = PosePrior.load()                       # checkpoints/pose-prior-market-train.npz, < 1 MB
    verdict = prior.assess(pose)                   # .score in [0, 1], .verdict, .far_joints
    closest = prior.snap(pose)                     # the closest training pose, as it was annotated

The shipped file is built from the shared data, once (see :func:`build_prior` and ``python -m posegan
pose-prior --help``); nothing reads the data at run time.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import DEFAULT_POSE_PRIOR
from .geometry import torso_size
from .keypoints import NUM_JOINTS, J, is_present, read_market_csv

MISSING_COST = 1.0        # torso sizes: a joint shown in one pose and hidden in the other
K = 3                     # a joint is "seen" where at least K training poses put it
MIN_JOINT_LIMIT = 0.15    # torso sizes (about 6 px at Market scale): the neck and shoulders barely vary
TYPICAL_QUANTILE, UNSEEN_QUANTILE, JOINT_QUANTILE = 0.90, 0.99, 0.999
HELD_OUT_POSES = 2000     # held-out poses used for the calibration (a seeded sample)
UNSEEN_SCORE = 0.5        # the score at the edge of what the model has seen (see PosePrior.assess)
CANDIDATES = 20           # training poses tried by snap() and random() for one that is typical itself
STORED_MISSING = 255      # uint8 coordinate of a missing joint in the shipped file (frame coordinates fit in uint8)

VERDICTS = ("like the training poses", "unusual: few training poses are like it", "outside what the model has seen")


@dataclass
class Plausibility:
    score: float              # 1: a training pose; UNSEEN_SCORE: the edge of what the model has seen; 0: twice as far
    level: int                # 0 typical, 1 unusual, 2 unseen: the index of the verdict in VERDICTS
    distance: float           # RMS distance to the closest training pose, in torso sizes
    far_joints: list[int]     # joints farther from every position seen in training than held-out joints ever are
    nearest: int              # index of the closest training pose

    @property
    def verdict(self) -> str:
        return VERDICTS[self.level]


def normalise(poses: np.ndarray) -> np.ndarray:
    """Poses [..., 18, 2] -> neck (else the mean of the shown joints) at 0, lengths in torso sizes; hidden joints 0."""
    poses = np.asarray(poses, np.float32)
    flat = poses.reshape(-1, NUM_JOINTS, 2)
    out = np.zeros_like(flat)
    for pose, target in zip(flat, out):
        present = is_present(pose)
        if not present.any():
            continue
        origin = pose[J["neck"]] if present[J["neck"]] else pose[present].mean(axis=0)
        target[present] = (pose[present] - origin) / torso_size(pose)
    return out.reshape(poses.shape)


class PosePrior:
    """The training poses (as annotated, in the 64x128 frame) and the limits calibrated on held-out poses."""

    def __init__(self, poses: np.ndarray, pose_typical: float, pose_unseen: float, joint_limits: np.ndarray):
        self.poses = np.asarray(poses, np.float32)                  # [N, 18, 2], -1 = missing
        self.present = is_present(self.poses)                        # [N, 18]
        self.normalised = normalise(self.poses)                      # [N, 18, 2]
        self.pose_typical, self.pose_unseen = float(pose_typical), float(pose_unseen)
        self.joint_limits = np.asarray(joint_limits, np.float32)     # [18]

    # ------------------------------------------------------------------------------------------ measures

    def distances(self, pose: np.ndarray) -> np.ndarray:
        """float[N]: the pose distance (module doc) from ``pose`` to every training pose."""
        shown = is_present(pose)
        error = np.linalg.norm(self.normalised - normalise(pose), axis=-1)           # [N, 18]
        error = np.where(self.present & shown, error, np.where(self.present ^ shown, MISSING_COST, 0.0))
        counted = np.maximum((self.present | shown).sum(axis=1), 1)
        return np.sqrt((error ** 2).sum(axis=1) / counted)

    def joint_distances(self, poses: np.ndarray, chunk: int = 512) -> np.ndarray:
        """float[..., 18]: each shown joint's distance to its K-th closest training position (NaN for hidden joints).

        ``poses`` [..., 18, 2]: one pose or many (compared ``chunk`` at a time, to bound the distance matrices)."""
        poses = np.asarray(poses, np.float32)
        flat = poses.reshape(-1, NUM_JOINTS, 2)
        query, shown = normalise(flat), is_present(flat)
        out = np.full(flat.shape[:2], np.nan, np.float32)
        for j in range(NUM_JOINTS):
            seen = self.normalised[self.present[:, j], j]
            rows = np.flatnonzero(shown[:, j])
            if len(seen) < K:
                continue
            for start in range(0, len(rows), chunk):
                block = rows[start:start + chunk]
                distances = np.linalg.norm(query[block, None, j] - seen[None], axis=-1)   # [block, seen]
                out[block, j] = np.partition(distances, K - 1, axis=1)[:, K - 1]
        return out.reshape(poses.shape[:-1])

    def rarity(self, poses: np.ndarray) -> np.ndarray:
        """float[...]: the joint measure of :meth:`assess` for each of ``poses`` [..., 18, 2]: the largest ratio of a
        shown joint's distance (:meth:`joint_distances`) to its "far" limit; 1 is beyond what 99.9 % of held-out
        joints reach, 0 a pose with no joint shown. Training poses themselves score about 0.1 (median)."""
        return self._worst_joint(self.joint_distances(poses))

    def _worst_joint(self, joint_distances: np.ndarray) -> np.ndarray:
        return np.nanmax(joint_distances / self.joint_limits, axis=-1, initial=0.0)

    def assess(self, pose: np.ndarray) -> Plausibility:
        distances = self.distances(pose)
        nearest = int(np.argmin(distances))
        joints = self.joint_distances(pose)
        far = [int(j) for j in np.flatnonzero(joints > self.joint_limits)]  # NaN (hidden) compares False
        # Both measures as a ratio to their "unseen" limit; the worse one decides.
        badness = max(distances[nearest] / self.pose_unseen, float(self._worst_joint(joints)))
        score = float(np.clip(1 - (1 - UNSEEN_SCORE) * badness, 0, 1))
        level = 0 if score >= self.typical_score else 1 if score >= UNSEEN_SCORE else 2
        return Plausibility(score, level, float(distances[nearest]), far, nearest)

    @property
    def typical_score(self) -> float:
        """The score at the edge of the typical poses (those 90 % of held-out poses are as close as)."""
        return 1 - (1 - UNSEEN_SCORE) * self.pose_typical / self.pose_unseen

    def snap(self, pose: np.ndarray) -> np.ndarray:
        """The training pose closest to ``pose`` (pose distance) that is typical itself, as annotated.

        A few annotations put a joint where hardly any other pose has one (mis-detections): snapping to one of
        those would swap one unusual pose for another, so the closest of the ``CANDIDATES`` nearest that is
        typical wins (the nearest when none is).
        """
        order = np.argsort(self.distances(pose))
        return self._first_typical(order[:CANDIDATES]).copy()

    def random(self, rng: np.random.Generator | None = None) -> np.ndarray:
        """A typical training pose drawn at random."""
        return self._first_typical((rng or np.random.default_rng()).permutation(len(self.poses))[:CANDIDATES]).copy()

    def _first_typical(self, indices: np.ndarray) -> np.ndarray:
        for index in indices:
            if self.assess(self.poses[index]).level == 0:
                return self.poses[index]
        return self.poses[indices[0]]

    # ------------------------------------------------------------------------------------------ file

    def save(self, path) -> None:
        stored = np.where(self.present[..., None], np.rint(self.poses), STORED_MISSING).astype(np.uint8)
        np.savez_compressed(path, poses=stored, pose_typical=self.pose_typical, pose_unseen=self.pose_unseen,
                            joint_limits=self.joint_limits)

    @classmethod
    def load(cls, path=DEFAULT_POSE_PRIOR) -> "PosePrior":
        with np.load(Path(path)) as data:
            stored = data["poses"]
            poses = np.where(stored == STORED_MISSING, -1.0, stored.astype(np.float32))
            return cls(poses, data["pose_typical"], data["pose_unseen"], data["joint_limits"])


def build_prior(train_csv, held_out_csv, held_out: int = HELD_OUT_POSES, seed: int = 0) -> PosePrior:
    """The prior of the poses in ``train_csv`` (duplicates dropped), its limits calibrated on a seeded sample of
    ``held_out`` poses of ``held_out_csv`` (poses the generator never trained on)."""
    train = np.stack(list(read_market_csv(train_csv).values()))
    train = train[np.sort(np.unique(train.reshape(len(train), -1), axis=0, return_index=True)[1])]
    train = train[is_present(train).any(axis=1)]
    uncalibrated = PosePrior(train, 0.0, 1.0, np.ones(NUM_JOINTS))
    others = np.stack(list(read_market_csv(held_out_csv).values()))
    others = others[is_present(others).any(axis=1)]
    sample = others[np.random.default_rng(seed).permutation(len(others))[:held_out]]
    pose_distances = [uncalibrated.distances(pose).min() for pose in sample]
    joint_distances = np.stack([uncalibrated.joint_distances(pose) for pose in sample])
    limits = np.maximum(np.nan_to_num(np.nanquantile(joint_distances, JOINT_QUANTILE, axis=0)), MIN_JOINT_LIMIT)
    typical, unseen = np.quantile(pose_distances, [TYPICAL_QUANTILE, UNSEEN_QUANTILE])
    return PosePrior(train, typical, unseen, limits)

