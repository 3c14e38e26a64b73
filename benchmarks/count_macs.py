"""Parameters and convolution multiply-adds per 128x64 image of the generator and discriminator of a config.

    python benchmarks/count_macs.py --config configs/market-small-resizeconv-snhinge-style.yaml \
        [--set model.discriminator_channels=[64,128,256,512] ...] [--out results/macs.json]

Counts every Conv2d's multiply-adds with forward hooks (output elements x kernel size x input channels per group) on
one zero input; the warps of the deformable skips (``grid_sample``) and the element-wise layers are left out, so
this is the cost the widths set, for comparing model sizes, not a timing (``python -m posegan bench`` times).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from posegan.config import load_config  # noqa: E402
from posegan.keypoints import NUM_JOINTS  # noqa: E402
from posegan.networks.discriminator import Discriminator  # noqa: E402
from posegan.networks.generator import Generator  # noqa: E402

HEIGHT, WIDTH, PARTS = 128, 64, 10


def conv_macs(model: nn.Module, *inputs) -> int:
    total = 0

    def count(module, _inputs, output):
        nonlocal total
        total += output.numel() * module.weight[0].numel()

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model.eval()(*inputs)
    for hook in hooks:
        hook.remove()
    return total


def count(cfg) -> dict:
    image, heatmap = torch.zeros(1, 3, HEIGHT, WIDTH), torch.zeros(1, NUM_JOINTS, HEIGHT, WIDTH)
    affines, masks = torch.eye(2, 3).repeat(1, PARTS, 1, 1), torch.ones(1, PARTS, HEIGHT, WIDTH)
    G, D = Generator(cfg.model), Discriminator(cfg.model)
    return {"generator": {"parameters": sum(p.numel() for p in G.parameters()),
                          "conv_macs": conv_macs(G, image, heatmap, heatmap, affines, masks)},
            "discriminator": {"parameters": sum(p.numel() for p in D.parameters()),
                              "conv_macs": conv_macs(D, image, heatmap, image, heatmap)}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/market-small-resizeconv-snhinge-style.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    parser.add_argument("--out", help="also write the numbers to this JSON file")
    args = parser.parse_args()
    report = {"config": args.config, "overrides": args.set, "image": [HEIGHT, WIDTH],
              **count(load_config(args.config, overrides=args.set))}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
