"""Configuration: one dataclass tree, loaded from YAML (``configs/*.yaml``), overridden by ``--set key=value``.

Every hyper-parameter of the package lives here; defaults are the paper's "full" Market model
(design doc ``deformable-gan.md`` §0, §4, §5), except two marked choices: bilinear instead of nearest sampling in
the skips, and one shared batch for the D and G steps (see :mod:`posegan.train`). YAML files only state what differs. Unknown keys and wrong
types raise :class:`ConfigError` naming the key.

    cfg = load_config("configs/market-small.yaml", overrides=["train.batch_size=8"])
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml


REPO_ROOT = Path(__file__).resolve().parents[1]
# The app's generator: the realism recipe of issue #13 (checkpoints/posegan-market-small.pt is the paper recipe's,
# offered in the app's checkpoint picker).
DEFAULT_GENERATOR = REPO_ROOT / "checkpoints" / "posegan-market-small-imageskip.pt"
DEFAULT_POSE_PRIOR = REPO_ROOT / "checkpoints" / "pose-prior-market-train.npz"  # training poses, posegan.pose_prior
# Data and metric weights are not in the repository: by default they sit in shared/ beside it (as in development and
# CI), found from the package's location so that commands work from any folder. Strings: they go into config YAML.
SHARED = REPO_ROOT.parent / "shared"
DEFAULT_DATA_ROOT = str(SHARED / "data" / "market1501")
DEFAULT_WEIGHTS_DIR = str(SHARED / "weights")


class ConfigError(ValueError):
    """A config file or override that names an unknown key or has a value of the wrong type."""


@dataclass
class ModelConfig:
    # Encoder widths per level (6 levels, 128x64 -> 4x2). Paper: 64..512; market-small uses 1/4.
    encoder_channels: list[int] = field(default_factory=lambda: [64, 128, 256, 512, 512, 512])
    # Decoder widths for the 5 up-sampling steps (the final 3x3 conv to RGB is implicit).
    decoder_channels: list[int] = field(default_factory=lambda: [512, 512, 512, 256, 128])
    # Discriminator widths of its 4 strided convs (the 5th conv outputs 1 logit per patch).
    discriminator_channels: list[int] = field(default_factory=lambda: [64, 128, 256, 512])
    deformable_skips: bool = True  # False = the "no deformable skip" ablation: same network, skips not warped
    warp_levels: int = 4           # skips warped at the 4 highest resolutions, as in the paper (doc §3.7)
    warp_mode: str = "bilinear"    # grid_sample mode; the original uses "nearest" (doc §3.6), bilinear gives smoother gradients
    learned_offsets: bool = False  # our extension (not the paper's): residual offsets on the affine grid, zero-initialised
    # Our extension (posegan.networks.image_skip): each output pixel chooses between the generated colour and the
    # source pixels warped by each part, by a softmax from the last decoder features; paper: off
    image_skip: bool = False
    dropout: float = 0.5           # on the first 3 decoder steps while training only (doc §4.2)
    dropout_steps: int = 3
    upsample: str = "transposed"   # decoder x2 steps: "transposed" (paper) or "resize_conv" (no checkerboard)
    discriminator_spectral_norm: bool = False  # spectral normalisation of D's convs (Miyato et al. 2018); paper: off
    # A second, local scale for D: one logit per patch of its last inner activation (7x3 patches of 46x46 pixels at
    # 128x64) beside the paper's 3 global ones, every patch one vote in the loss; paper: off
    discriminator_local_head: bool = False


@dataclass
class LossConfig:
    # Weights; 0 switches a term off (and skips its computation). Paper "full": adversarial 1 + 0.01 NN.
    adversarial: float = 1.0
    nearest_neighbour: float = 0.01
    nn_layer: str = "relu1_2"      # VGG19 layer of the NN loss (conv1_2 after ReLU, doc §5.3)
    nn_window: int = 3             # neighbourhood size n (n x n)
    gan_type: str = "bce"          # "bce" (paper: non-saturating), "hinge" or "lsgan"
    feature_matching: float = 0.0  # L1 between D's inner features of real and generated (pix2pixHD)
    perceptual: float = 0.0        # L1 on VGG features, summed over perceptual_layers
    perceptual_layers: list[str] = field(default_factory=lambda: ["relu2_1"])
    style: float = 0.0             # L1 between Gram matrices of VGG features, summed over style_layers (GFLA, DPTN)
    style_layers: list[str] = field(default_factory=lambda: ["relu1_1", "relu2_1", "relu3_1", "relu4_1"])
    vgg_bf16: bool = False         # VGG19 of the losses under bf16 autocast (CPU: 3.6x faster fwd+bwd with AMX)
    l1: float = 0.0                # pixel L1 in [-1, 1] units
    ssim: float = 0.0              # 1 - SSIM of generated and target (losses.ssim_loss; our addition)
    offset_smoothness: float = 0.0  # total variation of learned offsets (only with model.learned_offsets)
    d_augment: str = ""            # DiffAugment of D's inputs, e.g. "color,translation,cutout" (diff_augment.py)


@dataclass
class DataConfig:
    root: str = DEFAULT_DATA_ROOT
    height: int = 128
    width: int = 64
    heatmap_sigma: float = 6.0     # px at 128x64 (doc §2)
    flip: bool = False             # random horizontal flip of both images; off in the original recipe (doc §1.4)
    rare_pose_cap: float = 0.0     # > 1: draw pairs by their target pose's rarity, the rarest up to this many
                                   # times as often as common ones (data.rare_pose_weights); 0 = each pair once a pass


@dataclass
class TrainConfig:
    batch_size: int = 4
    lr: float = 2e-4               # Adam for G and D; constant in the paper (doc §5.4)
    lr_decay_start: int = 0        # step from which the learning rate falls linearly ...
    lr_decay_steps: int = 0        # ... to 0 over this many steps (pix2pix, GFLA); 0 = constant (the paper)
    beta1: float = 0.5
    beta2: float = 0.999
    max_steps: int = 90_000        # 90 "epochs" x 1000 iterations in the original
    adversarial_start: int = 0     # steps of reconstruction-only warm-up before D and the GAN loss start
    ema_half_life: int = 0         # steps; > 0 keeps a moving average of G's weights for samples and export
                                   # (our addition, as in stylegan2-ada; the paper has none); 0 = off
    keep_every: int = 0            # steps between kept snapshots of the generator (runs/<name>/snapshots/, float32,
                                   # the moving average when there is one) to mean with `export --average-with`; 0 = off
    init_from: str = ""           # fine-tune: start a new run from this checkpoint's weights (G, its moving average,
                                   # D), converting a transposed-conv decoder or an unnormalised D where the model
                                   # differs; optimisers start fresh. Ignored when resuming.
    seed: int = 0
    threads: int = 0               # torch CPU threads; 0 = all cores of this machine
    workers: int = 0               # DataLoader processes loading the batches (a GPU outruns one process: 64 pairs
                                   # take about 0.2 s to load); 0 = in the training process, as on a CPU
    log_every: int = 50            # steps between log lines / CSV rows
    sample_every: int = 1000       # steps between sample grids
    sample_pairs: int = 8          # fixed test pairs shown in every sample grid
    checkpoint_minutes: float = 5.0  # wall-clock minutes between atomic checkpoints


@dataclass
class PoseGANConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return asdict(self)


def _check_type(key: str, value, annotation):
    origin = typing.get_origin(annotation)
    if origin is list:
        (item_type,) = typing.get_args(annotation)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_check_type(f"{key}[{i}]", v, item_type) for i, v in enumerate(value)]
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, bool) != (annotation is bool) or not isinstance(value, annotation):
        raise ConfigError(f"{key}: expected {annotation.__name__}, got {value!r}")
    return value


def _update(section, values: dict, prefix: str):
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {values!r}")
    hints = typing.get_type_hints(type(section))
    names = {f.name for f in dataclasses.fields(section)}
    for key, value in values.items():
        full = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(f"unknown config key {full!r} (valid: {', '.join(sorted(names))})")
        current = getattr(section, key)
        if dataclasses.is_dataclass(current):
            _update(current, value, full + ".")
        else:
            setattr(section, key, _check_type(full, value, hints[key]))


def config_from_dict(values: dict) -> PoseGANConfig:
    cfg = PoseGANConfig()
    _update(cfg, values or {}, "")
    return cfg


def parse_override(text: str) -> dict:
    """``"train.batch_size=8"`` -> ``{"train": {"batch_size": 8}}`` (the value is parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    path, raw = text.split("=", 1)
    nested: dict = {}
    node = nested
    *parents, leaf = path.strip().split(".")
    for name in parents:
        node = node.setdefault(name, {})
    node[leaf] = yaml.safe_load(raw)
    return nested


def _merge(base: dict, extra: dict) -> dict:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def merge_overrides(values: dict, overrides: list[str]) -> dict:
    """A config dict with ``section.key=value`` overrides applied (validated later by :func:`config_from_dict`)."""
    for text in overrides:
        values = _merge(values, parse_override(text))
    return values


def load_config(path=None, overrides: list[str] = ()) -> PoseGANConfig:
    """Defaults <- YAML file <- overrides, validated at every step."""
    values: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        values = yaml.safe_load(path.read_text()) or {}
    return config_from_dict(merge_overrides(values, overrides))
