"""The NCA of Richardson et al. written independently in JAX, for two jobs:

  grad:  loss and gradients of t steps from a state against a target, for a model file written
         by `nca` (float64), to check `nca grad` against JAX's own autodiff;
  bench: time one forward+backward pass of the HEAD configuration, like `nca bench`.

Only numpy, jax and safetensors; kernels, perception order and loss follow SPEC.md.
"""
import argparse
import json
import sys
import time

import numpy as np

KERNELS = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "average": [[1 / 9] * 3] * 3,
    "grad-x": [[1 / 8, 2 / 8, 1 / 8], [0, 0, 0], [-1 / 8, -2 / 8, -1 / 8]],
    "grad-y": [[1 / 8, 0, -1 / 8], [2 / 8, 0, -2 / 8], [1 / 8, 0, -1 / 8]],
    "laplacian": [[1 / 4, 2 / 4, 1 / 4], [2 / 4, -12 / 4, 2 / 4], [1 / 4, 2 / 4, 1 / 4]],
}
PAD = {"periodic": "wrap", "zero": "constant", "reflect": "symmetric"}
ACT = {
    "relu": lambda jnp, a: jnp.maximum(a, 0),
    "linear": lambda jnp, a: a,
    "tanh": lambda jnp, a: jnp.tanh(a),
}


def make_loss(jnp, kernels, activation, boundary, observable, steps):
    def perceive(x):
        s = x.shape[1]
        padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode=PAD[boundary])
        outs = []
        for name in kernels:
            g = KERNELS[name]
            z = sum(g[di][dj] * padded[:, di:di + s, dj:dj + s, :] for di in range(3) for dj in range(3) if g[di][dj] != 0)
            outs.append(z)
        z = jnp.stack(outs, axis=-1)  # R, S, S, C, K: channel-major (c, k) after reshape
        return z.reshape(z.shape[:3] + (-1,))

    def loss(w2, w1, v, x0, y):
        x = x0
        for _ in range(steps):
            f = ACT[activation](jnp, perceive(x) @ w2) @ w1 + v
            x = x + f
        d = x[..., :observable] - y[..., :observable]
        return jnp.mean(jnp.sqrt(jnp.sum(d * d, axis=(1, 2, 3))))

    return loss


def grad_mode(args):
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from safetensors import safe_open
    from safetensors.numpy import load_file

    weights = load_file(args.model)
    with safe_open(args.model, "np") as f:
        meta = f.metadata()
    if float(meta["skip_probability"]) != 0:
        sys.exit("jax_nca.py grad: only p = 0 models (no stochastic mask)")
    x0 = np.load(args.state).astype(np.float64)
    y = np.load(args.target).astype(np.float64)
    loss = make_loss(jnp, meta["kernels"].split(","), meta["activation"], meta["boundary"], int(meta["observable"]), args.steps)
    w2, w1, v = (jnp.asarray(weights[k], dtype=jnp.float64) for k in ("W2", "W1", "v"))
    value, grads = jax.value_and_grad(loss, argnums=(0, 1, 2, 3))(w2, w1, v, jnp.asarray(x0), jnp.asarray(y))
    for name, g in zip(("dW2", "dW1", "dv", "dx0"), grads):
        np.save(f"{args.out}/{name}.npy", np.asarray(g))
    json.dump({"loss": float(value)}, open(f"{args.out}/loss.json", "w"))


def bench_mode(args):
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(1)
    c, h, r, s, t = 8, 32, 16, 64, 32
    lim = np.sqrt(6 / (2 * c + h))
    w2 = jnp.asarray(rng.uniform(-lim, lim, (2 * c, h)), dtype=jnp.float32)
    w1 = jnp.asarray(rng.uniform(-0.01, 0.01, (h, c)), dtype=jnp.float32)
    v = jnp.zeros((c,), dtype=jnp.float32)
    x0 = jnp.asarray(rng.random((r, s, s, c)), dtype=jnp.float32)
    y = jnp.asarray(rng.random((r, s, s, 2)), dtype=jnp.float32)
    step = jax.jit(jax.value_and_grad(make_loss(jnp, ["identity", "laplacian"], "relu", "periodic", 2, t), argnums=(0, 1, 2)))
    jax.block_until_ready(step(w2, w1, v, x0, y))  # compile
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        jax.block_until_ready(step(w2, w1, v, x0, y))
        times.append(time.perf_counter() - start)
    times.sort()
    print(json.dumps({"framework": f"jax {jax.__version__} (jit)", "forward_backward_s": times[len(times) // 2]}))


def rollout_mode(args):
    """Seconds per step of a free rollout of one 64 × 64 lattice (R 1, C 8), 256 steps under jit."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(1)
    c, h, s, t = 8, 32, 64, 256
    lim = np.sqrt(6 / (2 * c + h))
    w2 = jnp.asarray(rng.uniform(-lim, lim, (2 * c, h)), dtype=jnp.float32)
    w1 = jnp.asarray(rng.uniform(-0.01, 0.01, (h, c)), dtype=jnp.float32)
    v = jnp.zeros((c,), dtype=jnp.float32)
    x0 = jnp.asarray(rng.random((1, s, s, c)), dtype=jnp.float32)
    kernels = [np.asarray(KERNELS[k]) for k in ("identity", "laplacian")]

    def step(_, x):
        padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="wrap")
        z = jnp.stack([sum(g[di][dj] * padded[:, di:di + s, dj:dj + s, :] for di in range(3) for dj in range(3) if g[di][dj] != 0)
                       for g in kernels], axis=-1).reshape(1, s, s, -1)
        return x + jnp.maximum(z @ w2, 0) @ w1 + v

    run = jax.jit(lambda x: jax.lax.fori_loop(0, t, step, x))
    jax.block_until_ready(run(x0))
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        jax.block_until_ready(run(x0))
        times.append((time.perf_counter() - start) / t)
    times.sort()
    print(json.dumps({"framework": f"jax {jax.__version__} (jit)", "rollout_step_s": times[len(times) // 2]}))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="mode", required=True)
    g = sub.add_parser("grad")
    g.add_argument("--model", required=True)
    g.add_argument("--state", required=True)
    g.add_argument("--target", required=True)
    g.add_argument("--steps", type=int, required=True)
    g.add_argument("--out", required=True)
    b = sub.add_parser("bench")
    b.add_argument("--repeats", type=int, default=5)
    ro = sub.add_parser("rollout")
    ro.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    {"grad": grad_mode, "bench": bench_mode, "rollout": rollout_mode}[args.mode](args)


if __name__ == "__main__":
    main()
