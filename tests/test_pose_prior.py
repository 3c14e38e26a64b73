"""posegan.pose_prior: how far a pose is from the training poses (the app's plausibility meter, issue #15)."""
import numpy as np
import pytest

from conftest import MINI_DATA
from posegan.cli import main
from posegan.config import DEFAULT_POSE_PRIOR
from posegan.keypoints import J, is_present
from posegan.pose_edits import raise_arm
from posegan.pose_prior import VERDICTS, PosePrior, build_prior


@pytest.fixture(scope="module")
def prior():
    return PosePrior.load()


@pytest.fixture(scope="module")
def raised(frontal_pose):
    edited, moved = raise_arm(frontal_pose, "right")
    assert moved == [J["right_elbow"], J["right_wrist"]]
    return edited


def test_the_shipped_prior_is_small_and_holds_the_training_poses(prior):
    assert DEFAULT_POSE_PRIOR.stat().st_size < 1_000_000
    assert len(prior.poses) > 9000 and prior.poses.shape[1:] == (18, 2)
    assert 0 < prior.pose_typical < prior.pose_unseen


def test_a_raised_arm_scores_worse_than_a_dataset_pose_and_its_wrist_is_named(prior, frontal_pose, raised):
    dataset, edited = prior.assess(frontal_pose), prior.assess(raised)
    assert dataset.verdict == VERDICTS[0] and dataset.far_joints == []
    assert edited.score < dataset.score - 0.3
    assert edited.verdict == VERDICTS[2]
    assert J["right_wrist"] in edited.far_joints


def test_snap_returns_the_closest_training_pose(prior, raised):
    snapped = prior.snap(raised)
    assert any(np.array_equal(snapped, pose) for pose in prior.poses)
    assert prior.assess(snapped).distance == 0.0 and prior.assess(snapped).verdict == VERDICTS[0]
    assert prior.distances(raised).min() == pytest.approx(prior.assess(raised).distance)
    assert prior.assess(snapped).score > prior.assess(raised).score


def test_where_the_person_stands_and_how_tall_they_are_do_not_matter(prior, frontal_pose):
    present = is_present(frontal_pose)
    moved = frontal_pose.copy()
    neck = frontal_pose[J["neck"]]
    moved[present] = (frontal_pose[present] - neck) * 0.8 + neck + [2, 6]
    original, changed = prior.assess(frontal_pose), prior.assess(moved)
    assert changed.distance == pytest.approx(original.distance, abs=1e-5)
    assert changed.nearest == original.nearest and changed.far_joints == original.far_joints


def test_random_draws_typical_training_poses(prior):
    rng = np.random.default_rng(0)
    for _ in range(3):
        pose = prior.random(rng)
        assert prior.assess(pose).distance == 0.0 and prior.assess(pose).verdict == VERDICTS[0]


def test_build_and_save_from_annotations(tmp_path, capsys):
    """The CLI's pose-prior command on the mini set: 5 poses to learn from, 3 held out."""
    lines = (MINI_DATA / "samples" / "annotations.csv").read_text().splitlines()
    train, held_out = tmp_path / "train.csv", tmp_path / "held-out.csv"
    train.write_text("\n".join(lines[:6]) + "\n")
    held_out.write_text("\n".join(lines[:1] + lines[6:]) + "\n")
    out = tmp_path / "prior.npz"
    main(["pose-prior", "--annotations", str(train), "--held-out", str(held_out), "--out", str(out)])
    assert f"wrote {out} (5 training poses" in capsys.readouterr().out
    loaded, built = PosePrior.load(out), build_prior(train, held_out)
    assert np.array_equal(loaded.poses, built.poses)
    assert loaded.pose_unseen == pytest.approx(built.pose_unseen) and np.allclose(loaded.joint_limits,
                                                                                  built.joint_limits)
    assert loaded.assess(built.poses[2]).distance == 0.0


def test_rarity_is_the_joint_measure_of_assess_for_one_pose_or_many(prior, frontal_pose, raised):
    poses = np.stack([frontal_pose, raised, np.full((18, 2), -1.0, np.float32)])
    rarity = prior.rarity(poses)
    assert rarity.shape == (3,) and prior.rarity(raised).shape == ()
    for pose, value in zip(poses[:2], rarity):  # row by row equals one pose at a time
        assert prior.rarity(pose) == pytest.approx(value)
        assert np.nanmax(prior.joint_distances(pose) / prior.joint_limits) == pytest.approx(value)
    assert rarity[0] < 0.5 < 1.0 < rarity[1]  # the dataset pose is common, the raised wrist beyond the far limit
    assert rarity[2] == 0.0                   # nothing shown, nothing rare
