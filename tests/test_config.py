import pytest

from posegan.config import ConfigError, PoseGANConfig, load_config, parse_override
from posegan.diff_augment import parse_policy
from conftest import REPO


def test_shipped_configs_load_and_differ_only_in_width():
    paper, small = load_config(REPO / "configs/market-paper.yaml"), load_config(REPO / "configs/market-small.yaml")
    assert paper.model.encoder_channels == [64, 128, 256, 512, 512, 512]
    assert [c * 4 for c in small.model.encoder_channels] == paper.model.encoder_channels
    assert paper.loss == small.loss == PoseGANConfig().loss  # the paper's full model: adversarial + 0.01 NN
    assert paper.loss.nearest_neighbour == 0.01 and paper.train.lr == 2e-4 and paper.train.batch_size == 4


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads_and_names_what_exists(path):
    cfg = load_config(path)
    parse_policy(cfg.loss.d_augment)  # a misspelt policy would only fail when the trainer starts
    assert not cfg.train.init_from or (REPO / cfg.train.init_from).is_file(), cfg.train.init_from


def test_overrides_are_typed_and_validated():
    cfg = load_config(None, ["train.batch_size=8", "loss.l1=1", "model.encoder_channels=[1, 2, 3, 4, 5, 6]"])
    assert cfg.train.batch_size == 8 and cfg.loss.l1 == 1.0 and isinstance(cfg.loss.l1, float)
    assert parse_override("a.b.c=[1, 2]") == {"a": {"b": {"c": [1, 2]}}}
    with pytest.raises(ConfigError, match="unknown config key 'train.batchsize'"):
        load_config(None, ["train.batchsize=8"])
    with pytest.raises(ConfigError, match="train.batch_size: expected int"):
        load_config(None, ["train.batch_size=big"])
    with pytest.raises(ConfigError, match=r"model.encoder_channels\[1\]: expected int"):
        load_config(None, ["model.encoder_channels=[1, x]"])
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(None, ["train.batch_size"])


def test_unknown_key_in_yaml_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  widths: [1]\n")
    with pytest.raises(ConfigError, match="model.widths"):
        load_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
