import numpy as np

from posegan.heatmaps import pose_heatmaps
from posegan.keypoints import missing_pose


def test_heatmap_peaks_at_joints_and_missing_is_zero(frontal_pose):
    maps = pose_heatmaps(frontal_pose)
    assert maps.shape == (18, 128, 64) and maps.dtype == np.float32
    for j, (x, y) in enumerate(frontal_pose):
        if x < 0:
            assert not maps[j].any()
            continue
        row, col = np.unravel_index(maps[j].argmax(), maps[j].shape)
        assert (col, row) == (int(x), int(y)) and maps[j, row, col] == 1.0


def test_heatmap_width_is_sigma():
    pose = missing_pose()
    pose[0] = (30, 60)
    maps = pose_heatmaps(pose, sigma=6.0)
    np.testing.assert_allclose(maps[0, 60, 36], np.exp(-0.5), rtol=1e-6)
    assert maps[1:].sum() == 0
