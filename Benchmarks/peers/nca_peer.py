"""What the peer implementations (jax_nca.py, tf_nca.py, torch_nca.py) share: SPEC's kernels,
the HEAD benchmark's data, timing and the command line. Only numpy."""
import argparse
import time

import numpy as np

KERNELS = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "average": [[1 / 9] * 3] * 3,
    "grad-x": [[1 / 8, 2 / 8, 1 / 8], [0, 0, 0], [-1 / 8, -2 / 8, -1 / 8]],
    "grad-y": [[1 / 8, 0, -1 / 8], [2 / 8, 0, -2 / 8], [1 / 8, 0, -1 / 8]],
    "laplacian": [[1 / 4, 2 / 4, 1 / 4], [2 / 4, -12 / 4, 2 / 4], [1 / 4, 2 / 4, 1 / 4]],
}

# HEAD: S 64, C 8, identity+laplacian, H 32, relu, periodic, 2 observable channels.
HEAD_KERNELS = ["identity", "laplacian"]
C, H, S, OBSERVABLE = 8, 32, 64, 2


def head_arrays(batch):
    """float32 numpy W2, W1, v, x0 (batch × S × S × C) and y (batch × S × S × 2), seeded; W1 small
    so that long rollouts stay bounded."""
    rng = np.random.default_rng(1)
    lim = np.sqrt(6 / (2 * C + H))
    w2 = rng.uniform(-lim, lim, (2 * C, H)).astype(np.float32)
    w1 = rng.uniform(-0.01, 0.01, (H, C)).astype(np.float32)
    v = np.zeros((C,), dtype=np.float32)
    x0 = rng.random((batch, S, S, C)).astype(np.float32)
    y = rng.random((batch, S, S, OBSERVABLE)).astype(np.float32)
    return w2, w1, v, x0, y


def median_seconds(run, repeats):
    """Median wall time of `run()` over `repeats` calls after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def cli(doc, grad_mode, bench_mode, rollout_mode=None):
    """grad --model --state --target --steps --out | bench [--repeats] | rollout [--repeats]."""
    parser = argparse.ArgumentParser(description=doc)
    sub = parser.add_subparsers(dest="mode", required=True)
    g = sub.add_parser("grad")
    for name in ("--model", "--state", "--target", "--out"):
        g.add_argument(name, required=True)
    g.add_argument("--steps", type=int, required=True)
    modes = {"grad": grad_mode, "bench": bench_mode}
    if rollout_mode is not None:
        modes["rollout"] = rollout_mode
    for name in modes:
        if name != "grad":
            sub.add_parser(name).add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    modes[args.mode](args)
