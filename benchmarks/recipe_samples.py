"""Side-by-side sample grid of the recipe runs (issue #13): the same fixed test pairs, one generated column per run.

    python benchmarks/recipe_samples.py paper resize-conv sn-hinge-fm perceptual-style --step 1000 \\
        --out results/recipes/samples-step1000.png

Cuts the columns out of each run's ``samples/stepNNNNNNN.png`` (the trainer's grid: source+pose | target pose |
generated | real target | part masks, every run on the same pairs because they share the seed): source+pose,
target pose and real target once, then the generated column of every run, in the order given.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
COLUMNS = 5  # columns of the trainer's sample grid
SOURCE, POSE, GENERATED, REAL = 0, 1, 2, 3


def column(grid: Image.Image, index: int) -> Image.Image:
    width = grid.width // COLUMNS
    return grid.crop((index * width, 0, (index + 1) * width, grid.height))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run names under runs/recipes/")
    parser.add_argument("--step", type=int, default=1000)
    parser.add_argument("--root", default="runs/recipes")
    parser.add_argument("--out", default="results/recipes/samples-step1000.png")
    args = parser.parse_args()
    grids = [Image.open(REPO / args.root / run / "samples" / f"step{args.step:07d}.png").convert("RGB") for run in args.runs]
    first = grids[0]
    strips = [column(first, SOURCE), column(first, POSE), column(first, REAL)] + [column(g, GENERATED) for g in grids]
    labels = ["source", "target pose", "real target"] + list(args.runs)
    header = 16
    out = Image.new("RGB", (sum(s.width for s in strips), first.height + header), "white")
    draw = ImageDraw.Draw(out)
    x = 0
    for strip, label in zip(strips, labels):
        out.paste(strip, (x, header))
        draw.text((x + 3, 2), label, fill="black")
        x += strip.width
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    out.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
