#!/usr/bin/env python3
"""The paper's Fig 5 for a trained Gray-Scott model: the PDE (top row) and the NCA (bottom row)
from the authors' unseen test state, channel B at the chosen steps, as one PNG.

    python3 scripts/fig5.py MODEL.safetensors OUT.png [--steps 0,512,1024,2048] [--nca .build/release/nca]

Needs only numpy: the PNG is written with zlib, colours from a viridis table.
"""
import argparse, os, struct, subprocess, sys, tempfile, zlib
import numpy as np

# Viridis at 9 evenly spaced points (matplotlib's values), interpolated linearly.
VIRIDIS = np.array([
    [68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
    [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]], float)


def colour(values, lo, hi):
    t = np.clip((values - lo) / max(hi - lo, 1e-12), 0, 1) * (len(VIRIDIS) - 1)
    i = np.minimum(t.astype(int), len(VIRIDIS) - 2)
    f = (t - i)[..., None]
    return ((1 - f) * VIRIDIS[i] + f * VIRIDIS[i + 1]).round().astype(np.uint8)


def write_png(path, rgb):
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(png)
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("out")
    p.add_argument("--steps", default="0,512,1024,2048")
    p.add_argument("--nca", default=".build/release/nca")
    p.add_argument("--scale", type=int, default=3)
    a = p.parse_args()
    steps = [int(s) for s in a.steps.split(",")]
    every = np.gcd.reduce([s for s in steps if s > 0] or [1])
    with tempfile.TemporaryDirectory() as d:
        pde = os.path.join(d, "pde.npy")
        subprocess.run([a.nca, "data", "gray-scott", "--init", "paper-test", "--steps", str(max(steps)),
                        "--time-sampling", str(every), "--out", pde], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([a.nca, "rollout", "--model", a.model, "--init", pde, "--frame", "0", "--steps", str(max(steps)),
                        "--every", str(every), "--out", os.path.join(d, "roll")], check=True, stdout=subprocess.DEVNULL)
        truth = np.load(pde)[:, 0, :, :, 1]
        model = np.load(os.path.join(d, "roll", "trajectory.npy"))[:, 0, :, :, 1]
    lo, hi = float(truth.min()), float(truth.max())
    s, k, gap = truth.shape[1], a.scale, 4
    rows = []
    for series in (truth, model):
        tiles = [np.kron(colour(series[n // every], lo, hi), np.ones((k, k, 1), np.uint8)) for n in steps]
        row = np.full((s * k, len(steps) * (s * k + gap) - gap, 3), 255, np.uint8)
        for i, tile in enumerate(tiles):
            row[:, i * (s * k + gap):i * (s * k + gap) + s * k] = tile
        rows.append(row)
    picture = np.concatenate([rows[0], np.full((gap, rows[0].shape[1], 3), 255, np.uint8), rows[1]])
    write_png(a.out, picture)
    print(f"wrote {a.out}: PDE (top) and NCA (bottom), channel B at steps {', '.join(map(str, steps))}; "
          f"colour range [{lo:.3g}, {hi:.3g}] from the PDE; NCA values in [{model.min():.3g}, {model.max():.3g}]")


if __name__ == "__main__":
    sys.exit(main())
