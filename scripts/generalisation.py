#!/usr/bin/env python3
"""Scores Gray-Scott models on initial conditions they never saw (the project's own check of
generalisation, used for Sources/NCA/NCA.docc/TrainAGrayScottModel.md): each family's 2048-step free rollout loss divided by
the do-nothing model's, from the PDE run by `nca data gray-scott`.

    python3 scripts/generalisation.py [--nca .build/release/nca] [--cache DIR] MODEL.safetensors ...

Families (64 × 64, binary ones with A = 0, B = 1 in the shapes and A = 1, B = 0 elsewhere):
paper-test (the authors' test state), blocks (2–5 random rectangles), rings (widths 2–8),
stripes (bands of stripes of widths 2–8), pearson (A 0.5, B 0.25 squares: `--init random`).
The seeds are fixed and differ from anything training uses. With --stability N it also runs
each model N steps from every family's initial states and prints the range of the observable
channels (A, B) over frames saved every 256 steps.
"""
import argparse, json, os, subprocess, sys, tempfile
import numpy as np

S = 64


def blank(r):
    x = np.zeros((r, S, S, 2), np.float32)
    x[..., 0] = 1
    return x


def seed_cells(x, r, mask):
    x[r, mask, 0] = 0
    x[r, mask, 1] = 1


def blocks(rng, r=4):
    x = blank(r)
    for k in range(r):
        for _ in range(rng.integers(2, 6)):
            h, w = rng.integers(4, 21, size=2)
            i, j = rng.integers(0, S, size=2)
            m = np.zeros((S, S), bool)
            m[np.ix_((i + np.arange(h)) % S, (j + np.arange(w)) % S)] = True
            seed_cells(x, k, m)
    return x


def rings(rng, r=4):
    x = blank(r)
    ii, jj = np.meshgrid(np.arange(S), np.arange(S), indexing="ij")
    for k in range(r):
        for _ in range(rng.integers(1, 4)):
            ci, cj = rng.uniform(0, S, size=2)
            radius = rng.uniform(6, 20)
            width = rng.integers(2, 9)
            di = np.minimum(abs(ii - ci), S - abs(ii - ci))
            dj = np.minimum(abs(jj - cj), S - abs(jj - cj))
            d = np.hypot(di, dj)
            seed_cells(x, k, (d >= radius) & (d < radius + width))
    return x


def stripes(rng, widths=(2, 3, 4, 6, 8)):
    x = blank(len(widths))
    for k, w in enumerate(widths):
        m = np.zeros((S, S), bool)
        i0 = rng.integers(0, S)
        rows = (i0 + np.arange(rng.integers(12, 33))) % S
        cols = np.arange(S) % (2 * w) < w
        m[np.ix_(rows, np.nonzero(cols)[0])] = True
        if k % 2:
            m = m.T
        seed_cells(x, k, m)
    return x


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+")
    p.add_argument("--nca", default=".build/release/nca")
    p.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "nca-generalisation"))
    p.add_argument("--steps", type=int, default=2048)
    p.add_argument("--stability", type=int, default=0, help="also run this many steps and report the observable range")
    a = p.parse_args()
    os.makedirs(a.cache, exist_ok=True)
    rng = np.random.default_rng(20261201)
    families = {"blocks": blocks(rng), "rings": rings(rng), "stripes": stripes(rng)}
    targets = {}
    for name in ["paper-test", "blocks", "rings", "stripes", "pearson"]:
        path = os.path.join(a.cache, f"{name}-{a.steps}.npy")
        if not os.path.exists(path):
            if name in families:
                init = os.path.join(a.cache, f"{name}-init.npy")
                np.save(init, families[name])
                run([a.nca, "data", "gray-scott", "--init", init, "--steps", str(a.steps), "--out", path])
            elif name == "pearson":
                run([a.nca, "data", "gray-scott", "--init", "random", "--batches", "4", "--seed", "977", "--steps", str(a.steps), "--out", path])
            else:
                run([a.nca, "data", "gray-scott", "--init", name, "--steps", str(a.steps), "--out", path])
        targets[name] = path

    def loss(model, data):
        out = os.path.join(a.cache, "result.json")
        run([a.nca, "evaluate", "--model", model, "--data", data, "--json", out])
        value = json.load(open(out))["loss"]
        return float("inf") if value is None else value

    nothing = os.path.join(a.cache, "nothing.safetensors")
    if not os.path.exists(nothing):
        run([a.nca, "init", "--out", nothing])
    base = {name: loss(nothing, path) for name, path in targets.items()}
    def observable_range(model):
        lo, hi = np.inf, -np.inf
        for path in targets.values():
            out = os.path.join(a.cache, "roll")
            run([a.nca, "rollout", "--model", model, "--init", path, "--frame", "0", "--steps", str(a.stability),
                 "--every", "256", "--out", out])
            x = np.load(os.path.join(out, "trajectory.npy"))[..., :2]
            lo, hi = min(lo, float(np.nanmin(x))), max(hi, float(np.nanmax(x)))
            if not np.isfinite(x).all():
                lo, hi = -np.inf, np.inf
        return lo, hi

    print("model," + ",".join(targets) + ",binary_mean" + (f",min_{a.stability},max_{a.stability}" if a.stability else ""))
    for model in a.models:
        ratios = {name: loss(model, path) / base[name] for name, path in targets.items()}
        binary = np.mean([ratios[n] for n in ("blocks", "rings", "stripes")])
        extra = ""
        if a.stability:
            lo, hi = observable_range(model)
            extra = f",{lo:.3f},{hi:.3f}"
        print(model + "," + ",".join(f"{ratios[n]:.3f}" for n in targets) + f",{binary:.3f}" + extra, flush=True)


if __name__ == "__main__":
    sys.exit(main())
