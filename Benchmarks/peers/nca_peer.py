"""What the peer implementations (jax_nca.py, tf_nca.py, torch_nca.py) share: SPEC's kernels,
the HEAD and BIG benchmarks' data, the optimiser's constants, timing, peak memory and the
command line. Only numpy."""
import argparse
import resource
import time

import numpy as np

KERNELS = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "average": [[1 / 9] * 3] * 3,
    "grad-x": [[1 / 8, 2 / 8, 1 / 8], [0, 0, 0], [-1 / 8, -2 / 8, -1 / 8]],
    "grad-y": [[1 / 8, 0, -1 / 8], [2 / 8, 0, -2 / 8], [1 / 8, 0, -1 / 8]],
    "laplacian": [[1 / 4, 2 / 4, 1 / 4], [2 / 4, -12 / 4, 2 / 4], [1 / 4, 2 / 4, 1 / 4]],
}

# The workloads of `nca bench --config head|big` (Sources/NCA/Analysis/Workload.swift); FLOP counts
# per cell-step of a forward+backward pass as nca counts them.
CONFIGS = {
    "head": dict(kernels=["identity", "laplacian"], channels=8, hidden=32, size=64, batch=16, steps=32, p=0.0,
                 observable=2, flops=5280),
    "big": dict(kernels=["identity", "grad-x", "grad-y", "laplacian"], channels=16, hidden=64, size=64, batch=8,
                steps=32, p=0.5, observable=4, flops=33216),
}

HEAD_KERNELS = CONFIGS["head"]["kernels"]

# Nadam as nca's trainer runs it after per-tensor gradient normalisation (g / (‖g‖ + 1e-8)).
LEARNING_RATE, BETA1, BETA2, EPSILON = 1e-3, 0.9, 0.999, 1e-7


class NadamSchedule:
    """The step-dependent scalars of nca's Nadam (Keras' momentum schedule), step by step:
    (1 − β2^t, μ_t, μ_{t+1}, Π μ up to t, Π μ up to t+1)."""

    def __init__(self):
        self.t = 0
        self.schedule = 1.0

    def next(self):
        self.t += 1
        t = self.t
        mu = BETA1 * (1 - 0.5 * 0.96 ** (t * 0.004))
        mu_next = BETA1 * (1 - 0.5 * 0.96 ** ((t + 1) * 0.004))
        self.schedule *= mu
        return (1 - BETA2 ** t, mu, mu_next, self.schedule, self.schedule * mu_next)


def config_arrays(name, batch=None):
    """float32 numpy W2, W1, v, x0 (R × S × S × C) and y (R × S × S × O) for a workload, seeded;
    W1 small so that long rollouts stay bounded."""
    cfg = CONFIGS[name]
    c, h, s, k = cfg["channels"], cfg["hidden"], cfg["size"], len(cfg["kernels"])
    r = cfg["batch"] if batch is None else batch
    rng = np.random.default_rng(1)
    lim = np.sqrt(6 / (k * c + h))
    w2 = rng.uniform(-lim, lim, (k * c, h)).astype(np.float32)
    w1 = rng.uniform(-0.01, 0.01, (h, c)).astype(np.float32)
    v = np.zeros((c,), dtype=np.float32)
    x0 = rng.random((r, s, s, c)).astype(np.float32)
    y = rng.random((r, s, s, cfg["observable"])).astype(np.float32)
    return w2, w1, v, x0, y


def peak_rss_mb():
    """The process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


def cli(doc, formulations, grad_mode, bench_mode, rollout_mode, range_penalty=False):
    """grad --model --state --target --steps --out [--range-penalty λ, where the peer has it]
    | bench [--config head|big] [--repeats] | rollout [--repeats] | formulations; every job but
    the last takes --formulation (one of `formulations`, the first by default)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    g = sub.add_parser("grad")
    for name in ("--model", "--state", "--target", "--out"):
        g.add_argument(name, required=True)
    g.add_argument("--steps", type=int, required=True)
    if range_penalty:
        g.add_argument("--range-penalty", type=float, default=0.0)
    modes = {"grad": grad_mode, "bench": bench_mode, "rollout": rollout_mode}
    for name, mode in list(modes.items()):
        parser_ = g if name == "grad" else sub.add_parser(name)
        parser_.add_argument("--formulation", choices=formulations, default=formulations[0])
        if name != "grad":
            parser_.add_argument("--repeats", type=int, default=5)
        if name == "bench":
            parser_.add_argument("--config", choices=sorted(CONFIGS), default="head")
    sub.add_parser("formulations", help="print the formulations, one per line")
    args = parser.parse_args()
    if args.mode == "formulations":
        print("\n".join(formulations))
        return
    modes[args.mode](args)
