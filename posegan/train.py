"""Trainer for Deformable GAN on Market-1501 (paper §4-§5; design doc ``deformable-gan.md`` §5.4, §9.3).

    python -m posegan train --config configs/market-small.yaml --out runs/market-small --max-minutes 60
    python -m posegan train --config configs/market-small.yaml --out runs/market-small --resume --max-minutes 60
    torchrun --nproc_per_node 2 -m posegan train --config configs/market-small.yaml --out runs/ddp

Each step: G generates the target view; D takes one step on (real target, generated) with the generated image
detached; then G takes one step on the adversarial loss through the updated D plus the reconstruction terms.
(The original draws three separate batches per iteration; one shared batch halves the generator forwards,
which matters on a CPU budget.) With ``loss.d_augment`` D sees both images through the same random,
differentiable transforms (DiffAugment, :mod:`posegan.diff_augment`). Adam 2e-4, betas (0.5, 0.999), batch 4, as
in the paper.

Run directory: ``config.yaml`` (resolved), ``log.csv`` (every loss, every ``log_every`` steps),
``samples/step0001000.png`` (source+pose | target pose | generated | real target | part masks, on fixed test
pairs), ``latest.pt`` (atomic, every ``checkpoint_minutes``, on SIGINT/SIGTERM, at ``--max-minutes`` and at the
end). Resume continues from the stored step with the stored config. Data parallel under ``torchrun``: every rank
computes its own batch, gradients are averaged with all-reduce (gloo on CPU, nccl on GPU) before each
optimiser step, only rank 0 writes. On GPU the forward passes run under bf16 autocast, and ``train.workers``
DataLoader processes can load the batches (the same pairs as without them).

With ``train.ema_half_life`` > 0 the trainer also keeps an exponential moving average of G's weights (our
addition, as in stylegan2-ada; the paper has none). It averages out the step-to-step jitter of GAN training at a
constant learning rate; the sample grids and ``export`` use it. A run resumed without one starts it from G.
``train.keep_every`` > 0 also keeps the generator every that many steps in ``<out>/snapshots/generator-<step>.pt``
(float32, 11 MB at the app's width), so that a longer average can be taken afterwards:
``posegan export <out>/latest.pt g.pt --average-with <out>/snapshots/generator-00*.pt`` (``results/weight-averaging/``).

``train.lr_decay_steps`` > 0 lets the learning rate of G and D fall linearly from ``train.lr`` at step
``train.lr_decay_start`` to 0 that many steps later (the last phase of pix2pix and GFLA; the paper keeps it
constant). A plateaued run resumed with ``--set train.lr_decay_start=<its step> --set train.lr_decay_steps=N`` ends
there in N steps.
"""
from __future__ import annotations

import copy
import csv
import itertools
import math
import os
import random
import signal
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch.utils.data import DataLoader, default_collate

from .checkpoint import FORMAT, export_generator, generator_weights, load_checkpoint, load_weights_converted, save_atomic
from .config import PoseGANConfig, config_from_dict
from .data import MODEL_INPUTS, MarketPoseDataset, rare_pose_weights, tensor_to_image
from .diff_augment import augment, parse_policy
from .losses import ReconstructionLoss, discriminator_loss, feature_matching_loss, generator_adversarial_loss
from .networks import Discriminator, Generator
from .pose_prior import PosePrior
from .utils import available_cores, native_bf16, set_cpu_threads
from .visualize import colourise_masks, draw_pose, image_grid, plot_training_log


def trim_log(path: Path, step: int) -> int:
    """Cut log.csv back to its header and its complete rows up to ``step``; return how many torn lines were dropped.

    After a hard kill the log may run ahead of the checkpoint (those rows are redone), and its tail may be torn: a
    row cut off before its line end, or NUL bytes where the file system had reserved space it never wrote.
    """
    text = path.read_text(errors="replace")
    lines = text.splitlines()
    if len(lines) > 1 and not text.endswith("\n"):
        lines[-1] = ""  # a row without its line end was cut off mid-write
    header, rows = lines[:1], lines[1:]
    steps = [row.split(",", 1)[0] for row in rows]
    kept = [row for row, first in zip(rows, steps) if first.isdigit() and int(first) <= step]
    path.write_text("".join(line + "\n" for line in header + kept))
    return sum(not first.isdigit() for first in steps)


def widen_log(path: Path, columns: list[str]) -> list[str]:
    """Make log.csv's header hold ``columns`` and return it: a resumed run whose config added a loss term (``--set
    loss.ssim=10``) appends the new column, the earlier rows leave it empty; a term switched off keeps its column,
    empty from then on."""
    rows = []
    if path.exists():
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    header = rows[0] if rows else []
    added = [c for c in columns if c not in header]
    if added or not rows:
        header = header + added
        with open(path, "w", newline="") as f:
            padded = [row + [""] * (len(header) - len(row)) for row in rows[1:]]
            csv.writer(f, lineterminator="\n").writerows([header] + padded)  # "\n" as trim_log writes
    return header


def ignore_stop_signals(worker_id: int) -> None:
    """DataLoader workers leave SIGINT/SIGTERM to the trainer: a Ctrl-C or a kill of the process group would kill them
    mid-batch and the trainer with an error, before its checkpoint. They stop with the trainer."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class Trainer:
    def __init__(self, cfg: PoseGANConfig | None, out_dir, data_root=None, split: str = "train",
                 sample_split: str = "test", resume: str | None = None, device: str | None = None):
        """cfg: None = the resumed checkpoint's config (the CLI passes it with --set overrides applied; the model
        section must match the checkpoint); resume: path of a training checkpoint."""
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        if device is None:
            device = f"cuda:{os.environ.get('LOCAL_RANK', 0)}" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)  # before NCCL: collectives must use this rank's GPU
            torch.backends.cudnn.benchmark = True  # input shapes never change: let cuDNN time its kernels once
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        state = load_checkpoint(resume, kind="train") if resume else None
        if cfg is None:
            cfg = config_from_dict(state["config"])
        self.cfg, self.out_dir = cfg, Path(out_dir)
        threads = set_cpu_threads(max(1, (cfg.train.threads or available_cores()) // self.world))
        self.log(f"device {self.device}, {threads} CPU threads, world size {self.world}")
        if cfg.loss.vgg_bf16 and not native_bf16(self.device.type):
            self.log(f"loss.vgg_bf16 is set, but {self.device.type} has no native bf16: the VGG losses run in float32")

        torch.manual_seed(cfg.train.seed + self.rank)
        random.seed(cfg.train.seed + self.rank)
        root = data_root or cfg.data.root
        cfg.data.root = str(root)  # config.yaml and checkpoints record the data actually used
        data_args = dict(height=cfg.data.height, width=cfg.data.width, sigma=cfg.data.heatmap_sigma)
        self.dataset = MarketPoseDataset(root, split, flip=cfg.data.flip, **data_args)
        self.pair_weights = None  # None: every pair once per pass (see batch)
        if cfg.data.rare_pose_cap > 1:
            self.pair_weights = rare_pose_weights(self.dataset, cfg.data.rare_pose_cap, PosePrior.load())
            common = self.pair_weights <= self.pair_weights.quantile(0.9)
            self.log(f"rare-pose sampling (cap {cfg.data.rare_pose_cap:g}): the rarest 10 % of target poses make "
                     f"{1 - self.pair_weights[common].sum() / self.pair_weights.sum():.0%} of the draws")
        samples = MarketPoseDataset(root, sample_split, **data_args)
        order = np.random.default_rng(cfg.train.seed).permutation(len(samples))[:cfg.train.sample_pairs]
        self.sample_batch = default_collate([samples[int(i)] for i in sorted(order)])

        self.G = Generator(cfg.model).to(self.device)
        self.D = Discriminator(cfg.model).to(self.device)
        self.recon = ReconstructionLoss(cfg.loss).to(self.device)
        self.d_augment = parse_policy(cfg.loss.d_augment)
        betas = (cfg.train.beta1, cfg.train.beta2)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=cfg.train.lr, betas=betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=cfg.train.lr, betas=betas)
        self.G_ema = None
        if cfg.train.ema_half_life > 0:
            self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
            self.ema_decay = 0.5 ** (1.0 / cfg.train.ema_half_life)
        self.step, self.train_seconds = 0, 0.0
        if state is not None:
            self.G.load_state_dict(state["G"])
            self.D.load_state_dict(state["D"])
            self.opt_G.load_state_dict(state["opt_G"])
            self.opt_D.load_state_dict(state["opt_D"])
            if self.G_ema is not None:  # float16 in a compact state: load_state_dict copies it into float32
                self.G_ema.load_state_dict(state.get("G_ema", state["G"]))
            self.step, self.train_seconds = int(state["step"]), float(state.get("train_seconds", 0.0))
            if self.rank == 0:
                torch.set_rng_state(state["torch_rng"])  # single process: the exact continuation
            else:  # other ranks draw fresh but distinct dropout noise
                torch.manual_seed(cfg.train.seed + self.rank + self.step)
            random.seed(cfg.train.seed + self.rank + self.step)
            self.log(f"resumed from {resume} at step {self.step}")
        elif cfg.train.init_from:
            self.init_from(cfg.train.init_from)
        if state is None and self.world > 1:  # same initial weights on every rank
            for p in list(self.G.parameters()) + list(self.D.parameters()):
                dist.broadcast(p.data, 0)
        self.stop_reason = None
        self._perm, self._perm_epoch = None, None  # pair order of the current pass (see batch)

    def init_from(self, path) -> None:
        """Fine-tuning: G, its moving average and D from another run's checkpoint (or G alone from an exported
        generator), converted where the model changed form (:func:`posegan.checkpoint.load_weights_converted`)."""
        ckpt = load_checkpoint(path)
        raw, _ = generator_weights(ckpt, ema=False)
        missing = load_weights_converted(self.G, raw)
        if self.G_ema is not None:
            missing += load_weights_converted(self.G_ema, generator_weights(ckpt, ema=True)[0])
        if "D" in ckpt:
            missing += load_weights_converted(self.D, ckpt["D"])
        # G and its moving average miss the same names: list each once; skip spectral-norm power-iteration vectors.
        fresh = [m for m in dict.fromkeys(missing) if not m.endswith(("._u", "._v"))]
        self.log(f"initialised from {path} (step {ckpt.get('step')})" + (f"; new: {', '.join(fresh)}" if fresh else ""))

    # ------------------------------------------------------------------------------------------ helpers
    def log(self, message: str) -> None:
        if self.rank == 0:
            print(message, flush=True)

    def pair_indices(self, step: int) -> list[int]:
        """The pairs of this rank's batch at ``step``: a fresh permutation of the pairs per pass (with
        ``data.rare_pose_cap``: as many weighted draws), so the order depends only on (seed, step) and a resumed run
        sees the same data as an uninterrupted one."""
        batch_size, n = self.cfg.train.batch_size, len(self.dataset)
        first = (step * self.world + self.rank) * batch_size
        indices = []
        for k in range(first, first + batch_size):
            epoch, position = divmod(k, n)
            if self._perm_epoch != epoch:
                gen = torch.Generator().manual_seed(self.cfg.train.seed * 100_003 + epoch)
                self._perm = (torch.randperm(n, generator=gen) if self.pair_weights is None else
                              torch.multinomial(self.pair_weights, n, replacement=True, generator=gen))
                self._perm_epoch = epoch
            indices.append(int(self._perm[position]))
        return indices

    def batch(self, step: int) -> dict:
        return default_collate([self.dataset[i] for i in self.pair_indices(step)])

    def batches(self, first_step: int):
        """The batches from ``first_step`` on, loaded here or, with ``train.workers``, by that many DataLoader
        processes (pinned for the GPU); the pairs are :meth:`pair_indices` either way."""
        workers = self.cfg.train.workers
        if workers == 0:
            return map(self.batch, itertools.count(first_step))
        steps = map(self.pair_indices, itertools.count(first_step))  # drawn here, as the workers ask for them
        # Its own generator seeds the workers (their flips): the torch RNG of the dropout masks is left alone.
        seeds = torch.Generator().manual_seed(self.cfg.train.seed + self.rank + first_step)
        return iter(DataLoader(self.dataset, batch_sampler=steps, num_workers=workers, generator=seeds,
                               worker_init_fn=ignore_stop_signals, pin_memory=self.device.type == "cuda"))

    def autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda")

    def reduce_gradients(self, module: torch.nn.Module) -> None:
        if self.world > 1:
            for p in module.parameters():
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    p.grad /= self.world

    def loss_names(self) -> list[str]:
        cfg = self.cfg.loss
        names = ["D/real", "D/fake", "G/adversarial"]
        names += [n for n, w in (("G/feature_matching", cfg.feature_matching), ("G/nn", cfg.nearest_neighbour),
                                 ("G/perceptual", cfg.perceptual), ("G/style", cfg.style), ("G/ssim", cfg.ssim),
                                 ("G/l1", cfg.l1))
                  if w > 0]
        if self.cfg.model.learned_offsets and cfg.offset_smoothness > 0:
            names.append("G/offset_tv")
        return names

    # --------------------------------------------------------------------------------------------- step
    def learning_rate(self, step: int) -> float:
        """Adam's learning rate for the step after ``step`` steps: ``train.lr``, falling linearly to 0 over
        ``train.lr_decay_steps`` steps from ``train.lr_decay_start`` when that is > 0."""
        cfg = self.cfg.train
        if cfg.lr_decay_steps <= 0:
            return cfg.lr
        return cfg.lr * min(1.0, max(0.0, 1.0 - (step - cfg.lr_decay_start) / cfg.lr_decay_steps))

    def discriminator_inputs(self, batch: dict, candidates: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """D's four inputs for ``candidates`` (copies of the batch's size stacked: real and / or generated), the
        pair's conditioning repeated alongside, through ``loss.d_augment`` (one draw per pair, alike for its copies)."""
        copies = len(candidates) // len(batch["source_image"])
        return augment(self.d_augment, torch.cat([batch["source_image"]] * copies),
                       torch.cat([batch["source_heatmap"]] * copies), candidates,
                       torch.cat([batch["target_heatmap"]] * copies), copies=copies)

    def train_step(self, batch: dict) -> dict[str, float]:
        cfg = self.cfg
        lr = self.learning_rate(self.step)
        for group in self.opt_G.param_groups + self.opt_D.param_groups:
            group["lr"] = lr  # set every step: a resumed optimiser state holds the lr it was saved with
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items() if isinstance(v, torch.Tensor)}
        inputs = [batch[k] for k in MODEL_INPUTS]
        adversarial = cfg.loss.adversarial > 0 and self.step >= cfg.train.adversarial_start
        self.G.train()
        with self.autocast():
            out = self.G(*inputs)
        fake = out.image.float()
        if not torch.isfinite(fake).all():  # before any optimiser step: the checkpoint must stay clean
            raise FloatingPointError(f"non-finite generator output at step {self.step}")
        stats = {}

        if adversarial:  # D step on (real, detached fake)
            self.D.requires_grad_(True)
            d_inputs = self.discriminator_inputs(batch, torch.cat([batch["target_image"], fake.detach()]))
            with self.autocast():
                logits = self.D(*d_inputs).float()
            real_logits, fake_logits = logits.chunk(2)
            d_losses = discriminator_loss(real_logits, fake_logits, cfg.loss.gan_type)
            self.opt_D.zero_grad(set_to_none=True)
            sum(d_losses.values()).backward()
            self.reduce_gradients(self.D)
            self.opt_D.step()
            stats.update({k: v.item() for k, v in d_losses.items()})

        g_losses = self.recon(fake, batch["target_image"], out.offsets)
        if adversarial:
            self.D.requires_grad_(False)  # G step: gradients flow through D into G only
            matching = cfg.loss.feature_matching > 0
            candidates = torch.cat([fake, batch["target_image"]]) if matching else fake  # real: D's features only
            with self.autocast():
                logits, inner = self.D(*self.discriminator_inputs(batch, candidates), features=True)
            fake_logits = logits.float()[:len(fake)]
            g_losses["G/adversarial"] = cfg.loss.adversarial * generator_adversarial_loss(fake_logits, cfg.loss.gan_type)
            if matching:
                fake_inner, real_inner = zip(*(f.float().chunk(2) for f in inner))
                g_losses["G/feature_matching"] = cfg.loss.feature_matching * feature_matching_loss(real_inner, fake_inner)
        total = sum(g_losses.values())
        if not torch.isfinite(total):
            raise FloatingPointError(f"non-finite generator loss at step {self.step}: "
                                     f"{ {k: v.item() for k, v in g_losses.items()} }")
        self.opt_G.zero_grad(set_to_none=True)
        total.backward()
        self.reduce_gradients(self.G)
        self.opt_G.step()
        if self.G_ema is not None:
            self.update_ema()
        stats.update({k: v.item() for k, v in g_losses.items()})
        return stats

    @torch.no_grad()
    def update_ema(self) -> None:
        """ema <- decay * ema + (1 - decay) * G, decay = 0.5 ** (1 / half-life in steps)."""
        ema, current = list(self.G_ema.parameters()), list(self.G.parameters())
        torch._foreach_lerp_(ema, current, 1.0 - self.ema_decay)

    # ------------------------------------------------------------------------------------------ outputs
    def state(self) -> dict:
        state = {"format": FORMAT, "kind": "train", "config": self.cfg.to_dict(), "step": self.step,
                 "train_seconds": self.train_seconds, "G": self.G.state_dict(), "D": self.D.state_dict(),
                 "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
                 "torch_rng": torch.get_rng_state()}
        if self.G_ema is not None:
            state["G_ema"] = self.G_ema.state_dict()
        return state

    def save(self) -> Path:
        path = self.out_dir / "latest.pt"
        if self.rank == 0:
            save_atomic(self.state(), path)
        return path

    @torch.no_grad()
    def save_samples(self) -> Path:
        """Grid of the fixed sample pairs (source+pose | target pose | generated | real target | part masks), and
        the loss curves of log.csv so far in loss.png. Drawn by the moving average of G when there is one."""
        generator = (self.G if self.G_ema is None else self.G_ema).eval()
        batch = {k: v.to(self.device) for k, v in self.sample_batch.items() if isinstance(v, torch.Tensor)}
        with self.autocast():
            generated = generator(*[batch[k] for k in MODEL_INPUTS]).image.float()
        rows = []
        for i in range(generated.shape[0]):
            source_pose, target_pose = batch["source_pose"][i].cpu().numpy(), batch["target_pose"][i].cpu().numpy()
            rows.append([draw_pose(tensor_to_image(batch["source_image"][i]), source_pose),
                         draw_pose(None, target_pose),
                         tensor_to_image(generated[i]),
                         tensor_to_image(batch["target_image"][i]),
                         colourise_masks(batch["part_masks"][i].cpu().numpy())])
        path = self.out_dir / "samples" / f"step{self.step:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image_grid(rows, scale=2).save(path)
        plot_training_log(self.out_dir / "log.csv", self.out_dir / "loss.png")  # the curves up to this grid
        return path

    # --------------------------------------------------------------------------------------------- loop
    def run(self, max_steps: int | None = None, max_minutes: float | None = None) -> int:
        cfg = self.cfg.train
        max_steps = cfg.max_steps if max_steps is None else max_steps
        names = self.loss_names()
        if self.rank == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "config.yaml").write_text(yaml.safe_dump(self.cfg.to_dict(), sort_keys=False))
            log_path = self.out_dir / "log.csv"
            torn = trim_log(log_path, self.step) if log_path.exists() else 0
            if torn:
                self.log(f"warning: dropped {torn} torn line(s) from {log_path} (left by a hard kill mid-write)")
            columns = widen_log(log_path, ["step", "train_seconds", "sec_per_step"] + names)
            log_file = open(log_path, "a", newline="")
            writer = csv.DictWriter(log_file, fieldnames=columns, restval="", lineterminator="\n")
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        if cfg.lr_decay_steps > 0:
            self.log(f"learning rate {self.learning_rate(self.step):.3g} at step {self.step}, falling linearly to 0 "
                     f"at step {cfg.lr_decay_start + cfg.lr_decay_steps}")
        start = last_ckpt = time.time()
        crashed = False
        window, window_start = {n: [] for n in names}, time.time()
        try:
            from tqdm import tqdm
            bar = tqdm(total=max_steps, initial=self.step, disable=self.rank != 0, dynamic_ncols=True, mininterval=5)
            batches = self.batches(self.step)
            while self.step < max_steps:
                t0 = time.time()
                stats = self.train_step(next(batches))
                self.step += 1
                self.train_seconds += time.time() - t0
                bar.update(1)
                for n in names:
                    if n in stats:
                        window[n].append(stats[n])
                if self.step % cfg.log_every == 0 and self.rank == 0:
                    means = {n: (sum(v) / len(v) if v else math.nan) for n, v in window.items()}
                    sec = (time.time() - window_start) / cfg.log_every
                    writer.writerow({"step": self.step, "train_seconds": round(self.train_seconds, 1),
                                     "sec_per_step": round(sec, 4)} | {n: f"{means[n]:.5g}" for n in names})
                    log_file.flush()
                    bar.set_postfix_str(" ".join(f"{n}={means[n]:.3g}" for n in names), refresh=False)
                    window, window_start = {n: [] for n in names}, time.time()
                if self.step % cfg.sample_every == 0 and self.rank == 0:
                    self.save_samples()
                if cfg.keep_every > 0 and self.step % cfg.keep_every == 0 and self.rank == 0:
                    export_generator(self.state(), self.out_dir / "snapshots" / f"generator-{self.step:07d}.pt",
                                     half=False)
                if time.time() - last_ckpt > cfg.checkpoint_minutes * 60:
                    self.save()
                    last_ckpt = time.time()
                if max_minutes is not None and time.time() - start > max_minutes * 60:
                    self.stop_reason = f"time budget of {max_minutes} min reached"
                if self.world > 1:  # every rank must stop at the same step
                    flag = torch.tensor([self.stop_reason is not None], dtype=torch.float32, device=self.device)
                    dist.all_reduce(flag)
                    if flag.item() and self.stop_reason is None:
                        self.stop_reason = "another rank stopped"
                if self.stop_reason:
                    break
            bar.close()
        except BaseException:
            crashed = True  # keep the last good checkpoint: this step may be half done
            raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self.rank == 0:
                log_file.close()
            if not crashed:
                path = self.save()
                if self.rank == 0:
                    self.save_samples()
                self.log(f"stopped at step {self.step} ({self.stop_reason or 'max steps reached'}); "
                         f"checkpoint {path}; {self.train_seconds / 3600:.2f} h of training in total")
                if self.world > 1:  # leave together: a rank exiting early aborts the others' collectives
                    dist.barrier()
            if self.world > 1:
                dist.destroy_process_group()
        return self.step

    def _on_signal(self, signum, frame):
        if self.stop_reason:  # second signal: give up at once (the last atomic checkpoint is intact)
            raise KeyboardInterrupt
        self.stop_reason = f"signal {signal.Signals(signum).name}"
        self.log(f"\n{self.stop_reason}: saving a checkpoint after this step")
