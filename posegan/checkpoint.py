"""Checkpoint files: plain tensors + a plain config dict, written atomically, loaded with ``weights_only=True``.

Training state (``runs/<name>/latest.pt``)::

    {"format": 1, "kind": "train", "config": {...}, "step": int, "train_seconds": float,
     "G": state_dict, "D": state_dict, "opt_G": state_dict, "opt_D": state_dict, "torch_rng": ByteTensor,
     "G_ema": state_dict (only with train.ema_half_life > 0)}

Shipped generator (``checkpoints/posegan-market-small.pt``): ``{"format": 1, "kind": "generator", "config",
"step", "train_seconds", "weights", "G"}`` with G optionally in float16; ``weights`` says whether G is the moving
average ("ema") or the optimiser's last weights ("raw"); ``"averaged_steps": [int, ...]`` when G is the mean of
several checkpoints of the run (``posegan export --average-with``). Networks are always rebuilt from the stored
config, never from the command line (nanoGPT ``model_args``).

Weights to fine-tune from (``.device/init.pt`` and what a lent GPU sends back, :mod:`posegan.device_bundle`):
``{"format": 1, "kind": "weights", "config", "step", "train_seconds", "G", "G_ema", "D"}``, all float16 and no
optimiser states, so ``train.init_from`` takes them (fresh Adam) and ``--resume`` does not.

Every file written by :func:`save_atomic` also holds ``"tensor_sha256"``, a digest of all its tensors (names,
dtypes, shapes, bytes) that :func:`load_checkpoint` verifies: a bit flipped in the weights would otherwise load
silently and give black images. Files written before the digest existed (the committed ``checkpoints/*.pt``)
load unverified and without a warning: they are the shipped files, so a warning would show on every start and
teach people to ignore it; re-exporting a file adds the digest.
"""
from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from pathlib import Path

import torch

from .config import PoseGANConfig, config_from_dict

FORMAT = 1
CHECKSUM_KEY = "tensor_sha256"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: empty, truncated, corrupt, unsafe or not a PoseGAN checkpoint."""

    def __init__(self, path, reason: str):
        super().__init__(f"{path}: {reason}")


def tensor_sha256(obj) -> str:
    """sha256 over every tensor in ``obj`` (nested dicts/lists), each as its path, dtype, shape and bytes, in
    order; other values are left out."""
    digest = hashlib.sha256()

    def visit(value, name: str) -> None:
        if isinstance(value, torch.Tensor):
            data = value.detach().cpu().contiguous().reshape(-1).view(torch.uint8)  # any dtype, also 0-d
            digest.update(f"{name}|{value.dtype}|{tuple(value.shape)}|".encode())
            digest.update(data.numpy().tobytes())
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(item, f"{name}/{key}")
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                visit(item, f"{name}/{index}")

    visit(obj, "")
    return digest.hexdigest()


def save_atomic(obj: dict, path) -> None:
    """Write to ``<path>.tmp`` then rename: a kill mid-write never destroys the previous checkpoint. The file
    also stores :func:`tensor_sha256` of ``obj`` (``obj`` itself is not changed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({**obj, CHECKSUM_KEY: tensor_sha256(obj)}, tmp)
    os.replace(tmp, path)


def _read(path: Path):
    """``torch.load`` with ``weights_only``, any failure raised as a :class:`CheckpointError` (a malformed file can
    make it fail with almost any exception type)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        raise _unreadable(path, exc) from None


def _unreadable(path: Path, exc: Exception) -> CheckpointError:
    """Why ``torch.load`` failed, in one line: empty, a pickle that would call code, or truncated/corrupt/other."""
    if path.stat().st_size == 0:
        return CheckpointError(path, "the file is empty")
    message = str(exc)
    unsafe = re.search(r"GLOBAL (\S+) was not an allowed global", message)
    if unsafe:
        return CheckpointError(path, f"refused: loading it would call {unsafe[1]} (a pickle can run code this way), "
                                     "and a checkpoint holds only tensors")
    lines = message.split("WeightsUnpickler error:")[-1].strip().splitlines()
    detail = lines[0].split(". ")[0][:100] if lines else ""
    return CheckpointError(path, f"truncated or not a PyTorch checkpoint ({type(exc).__name__}: {detail})")


def load_checkpoint(path, kind: str | None = None) -> dict:
    """Load a checkpoint safely (``weights_only``) and verify its tensor digest when it has one (the returned dict
    does not hold it); ``kind`` ("train" / "generator") = what the caller needs. Unusable files raise
    :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    ckpt = _read(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or "G" not in ckpt:
        raise CheckpointError(path, f"not a PoseGAN checkpoint (format {FORMAT})")
    stored = ckpt.pop(CHECKSUM_KEY, None)  # a property of the file, not of the checkpoint's content
    if stored is not None and stored != tensor_sha256(ckpt):
        raise CheckpointError(path, "corrupt: its tensors do not match the sha256 stored with them")
    if kind == "train" and ckpt.get("kind") != "train":
        raise ValueError(f"{path} holds a {ckpt.get('kind')} checkpoint, not a training state that can be resumed "
                         "(runs/<name>/latest.pt or an `export --train-state` file)")
    return ckpt


def load_weights_converted(module: torch.nn.Module, state: dict) -> list[str]:
    """Copy ``state`` into ``module`` where the two differ only in form, for fine-tuning into a changed model:
    a ConvTranspose 4x4/2 kernel into a resize-conv decoder (least squares, :func:`resize_conv_from_transposed`) and
    a plain conv weight into a spectrally normalised one (``.parametrizations.weight.original``). Returns the names
    of the module's tensors that ``state`` had nothing for (they keep their initial values); a tensor that exists
    on both sides with shapes that no conversion explains raises ``ValueError``."""
    from .networks.blocks import resize_conv_from_transposed
    own = module.state_dict()
    missing = []
    for name, target in own.items():
        # The same tensor if the checkpoint has it (a normalised D into a normalised D), else its plain form.
        source_name = name if name in state else name.replace(".parametrizations.weight.original", ".weight")
        if source_name not in state:
            missing.append(name)
            continue
        value = state[source_name]
        if value.shape != target.shape and value.ndim == 4 and value.shape[2:] == (4, 4) and target.shape[2:] == (3, 3):
            value = resize_conv_from_transposed(value.float())
        if value.shape != target.shape:
            raise ValueError(f"{name}: checkpoint has shape {tuple(value.shape)}, the model {tuple(target.shape)}")
        target.copy_(value.to(target.dtype))
    return missing


def checkpoint_config(ckpt: dict) -> PoseGANConfig:
    return config_from_dict(ckpt["config"])


def _float16(state_dict: dict) -> dict:
    """The floating-point tensors of a state dict as float16 (integer buffers stay as they are)."""
    return {k: (v.half() if v.is_floating_point() else v) for k, v in state_dict.items()}


def generator_weights(ckpt: dict, ema: bool = True) -> tuple[dict, str]:
    """(state_dict, "ema" | "raw"): the moving average of G when the checkpoint has one and ``ema``, else G."""
    if ema and "G_ema" in ckpt:
        return ckpt["G_ema"], "ema"
    return ckpt["G"], ckpt.get("weights", "raw")


def average_generator_weights(checkpoints: list[dict], ema: bool = True) -> tuple[dict, str]:
    """(state_dict, "ema" | "raw"): the uniform mean, in float32, of G's weights (:func:`generator_weights`) over
    the steps of one run that the checkpoints hold (training states or exported generators). Averaging a GAN
    generator's weights along its trajectory smooths the step-to-step wander that a moving average with a short
    half-life keeps (Yazici et al., "The Unusual Effectiveness of Averaging in GAN Training", ICLR 2019); the
    generator has no running statistics to recompute (its normalisation is per sample), so the mean is a working
    generator. A file that is already a mean (``averaged_steps``, e.g. the shipped generator) counts once per step it
    averages, so extending a shipped mean with later snapshots gives the same weights as meaning all of those steps'
    checkpoints at once; a step held twice is refused, as it would silently count double."""
    for ckpt in checkpoints:
        if ckpt.get("kind") not in ("train", "generator"):
            raise ValueError(f"cannot average a {ckpt.get('kind')} checkpoint (step {ckpt.get('step')}): "
                             "need training states or exported generators (train.keep_every snapshots)")
    first = checkpoints[0]
    for ckpt in checkpoints[1:]:
        if ckpt["config"]["model"] != first["config"]["model"]:
            raise ValueError(f"cannot average the generators of steps {first['step']} and {ckpt['step']}: "
                             "their model configs differ")
    steps = [averaged_steps(ckpt) for ckpt in checkpoints]
    held = [step for ckpt_steps in steps for step in ckpt_steps]
    twice = sorted(step for step, count in Counter(held).items() if count > 1)
    if twice:
        raise ValueError(f"step(s) {', '.join(f'{step:,}' for step in twice)} are in more than one of the checkpoints "
                         "to average: each step may count once")
    weighted = [generator_weights(ckpt, ema) for ckpt in checkpoints]
    if len({which for _, which in weighted}) > 1:
        raise ValueError("cannot average moving-average weights with raw ones: every checkpoint needs G_ema, "
                         "or export with --raw-weights")
    mean = {name: sum(len(ckpt_steps) * state[name].float() for (state, _), ckpt_steps in zip(weighted, steps))
            / len(held) if value.is_floating_point() else value for name, value in weighted[0][0].items()}
    return mean, weighted[0][1]


def averaged_steps(ckpt: dict) -> list[int]:
    """The training steps whose G a checkpoint holds: its ``averaged_steps`` when it is a mean, else its step."""
    return [int(step) for step in ckpt.get("averaged_steps", [ckpt["step"]])]


def export_generator(train_checkpoint, out_path, half: bool = True, ema: bool = True, average_with=()) -> dict:
    """Strip a training checkpoint down to the generator (+config), optionally as float16, atomically. ``ema``:
    ship the moving average of G's weights when the run kept one. ``average_with``: earlier training checkpoints
    or exported generators (``train.keep_every`` snapshots, or an earlier mean) of the same run whose G is averaged
    in (:func:`average_generator_weights`); the file then records all their steps as ``averaged_steps`` and keeps
    ``train_checkpoint``'s step and config. Checkpoints: paths or loaded ones."""
    ckpt = train_checkpoint if isinstance(train_checkpoint, dict) else load_checkpoint(train_checkpoint, kind="train")
    others = [c if isinstance(c, dict) else load_checkpoint(c) for c in average_with]
    if others:
        weights, which = average_generator_weights([ckpt, *others], ema)
    else:
        weights, which = generator_weights(ckpt, ema)
    state = _float16(weights) if half else weights
    out = {"format": FORMAT, "kind": "generator", "config": ckpt["config"], "step": ckpt["step"],
           "train_seconds": ckpt.get("train_seconds", 0.0), "weights": which, "G": state}
    if others:
        out["averaged_steps"] = sorted(step for c in (ckpt, *others) for step in averaged_steps(c))
    save_atomic(out, out_path)
    return out


def export_weights(checkpoint, out_path) -> dict:
    """G, its moving average (when the run kept one) and D of a training state or weights file as float16, with the
    config and step, atomically: a third of a training state (no Adam moments, no float32), small enough to travel
    to a lent GPU and back (:mod:`posegan.device_bundle`). ``checkpoint``: a path or a loaded one."""
    ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    if ckpt.get("kind") not in ("train", "weights"):
        name = "the checkpoint" if isinstance(checkpoint, dict) else checkpoint  # not the whole dict in the message
        raise ValueError(f"{name} holds a {ckpt.get('kind')} checkpoint without D: need a training state "
                         "(runs/<name>/latest.pt) or a weights file")
    out = {"format": FORMAT, "kind": "weights", "config": ckpt["config"], "step": ckpt["step"],
           "train_seconds": ckpt.get("train_seconds", 0.0)}
    out.update({name: _float16(ckpt[name]) for name in ("G", "G_ema", "D") if name in ckpt})
    save_atomic(out, out_path)
    return out


def export_training_state(train_checkpoint, out_path) -> dict:
    """A compact resumable copy of a training checkpoint to commit between sessions: weights stay float32, the
    Adam moments become bfloat16 (float32's range, so tiny second moments survive; ``Optimizer.load_state_dict``
    casts them back to the parameters' dtype on resume), the moving average of G float16 (like the shipped
    generator; the trainer casts it back). About 2/3 of the full size."""
    ckpt = load_checkpoint(train_checkpoint, kind="train")
    if "G_ema" in ckpt:
        ckpt["G_ema"] = _float16(ckpt["G_ema"])
    for name in ("opt_G", "opt_D"):
        for state in ckpt[name]["state"].values():
            for key in ("exp_avg", "exp_avg_sq"):
                state[key] = state[key].to(torch.bfloat16)
    save_atomic(ckpt, out_path)
    return ckpt
