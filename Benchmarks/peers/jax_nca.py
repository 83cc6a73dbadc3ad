"""The NCA of Richardson et al. written independently in JAX, for three jobs:

  grad:    loss and gradients of t steps from a state against a target, for a model file
           written by `nca` (float64), to check `nca grad` against JAX's own autodiff;
  bench:   time one training step (forward, loss, backward, gradient normalisation, Nadam) of
           the HEAD or BIG configuration, like `nca bench --config`;
  rollout: time a free rollout of one HEAD lattice (256 steps, no gradients).

Every job takes --formulation, the ways a competent JAX user would write it, all under jax.jit:
  slices: perception as a sum of shifted slices of a wrap-padded array, the t steps unrolled;
  scan:   the same step under lax.scan (one compiled step body, not t copies);
  conv:   perception as one depthwise lax.conv_general_dilated, the t steps unrolled.
Rollouts run the step under lax.fori_loop in every formulation.

Only numpy, jax and safetensors; kernels, perception order and loss follow SPEC.md.
"""
import json
import sys

import numpy as np

from nca_peer import (
    BETA1, BETA2, CONFIGS, EPSILON, HEAD_KERNELS, KERNELS, LEARNING_RATE, NadamSchedule, cli, config_arrays, median_seconds,
    peak_rss_mb)

FORMULATIONS = ["slices", "scan", "conv"]
PAD = {"periodic": "wrap", "zero": "constant", "reflect": "symmetric"}
ACT = {
    "relu": lambda jnp, a: jnp.maximum(a, 0),
    "linear": lambda jnp, a: a,
    "tanh": lambda jnp, a: jnp.tanh(a),
}


def make_step(jax, kernels, activation, boundary, formulation, dtype):
    """x ↦ x + σ ⊙ (u(perceive(x) · W2) · W1 + v), σ = 1 when None."""
    jnp = jax.numpy

    def pad(x):
        return jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode=PAD[boundary])

    def perceive_slices(x):
        s = x.shape[1]
        padded = pad(x)
        outs = []
        for name in kernels:
            g = KERNELS[name]
            z = sum(g[di][dj] * padded[:, di:di + s, dj:dj + s, :] for di in range(3) for dj in range(3) if g[di][dj] != 0)
            outs.append(z)
        z = jnp.stack(outs, axis=-1)  # R, S, S, C, K: channel-major (c, k) after reshape
        return z.reshape(z.shape[:3] + (-1,))

    def perceive_conv(x):
        c, k = x.shape[-1], len(kernels)
        # HWIO with one input per group: output channel c·K + k is kernel k on channel c.
        taps = np.array([KERNELS[name] for name in kernels], dtype=np.float64)  # K, 3, 3
        filt = np.tile(taps.transpose(1, 2, 0)[:, :, None, :], (1, 1, c, 1)).reshape(3, 3, 1, c * k)
        return jax.lax.conv_general_dilated(
            pad(x), jnp.asarray(filt, dtype=dtype), (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"),
            feature_group_count=c)

    perceive = perceive_conv if formulation == "conv" else perceive_slices

    def step(w2, w1, v, x, sigma=None):
        f = ACT[activation](jnp, perceive(x) @ w2) @ w1 + v
        return x + f if sigma is None else x + sigma * f  # x + f: XLA runs this grouping about 1.8x faster

    return step


def make_loss(jax, kernels, activation, boundary, observable, steps, formulation, dtype, p=0.0, range_penalty=0.0):
    """Loss of `steps` steps; with p > 0 each step updates a cell with probability 1 − p (σ drawn
    per cell from jax.random with the key given to the loss). With range_penalty λ > 0 it adds
    λ × the mean over the steps of Σ relu(−x) + relu(x − 1) over every entry, cell and channel of
    each step's output (the authors' state-range penalty)."""
    jnp, random = jax.numpy, jax.random
    step = make_step(jax, kernels, activation, boundary, formulation, dtype)

    def one(w2, w1, v, x, key):
        sigma = None
        if p > 0:
            sigma = (random.uniform(key, x.shape[:3] + (1,), dtype=x.dtype) >= p).astype(x.dtype)
        x = step(w2, w1, v, x, sigma)
        excess = jnp.sum(jnp.maximum(-x, 0) + jnp.maximum(x - 1, 0)) if range_penalty > 0 else 0.0
        return x, excess

    def loss(w2, w1, v, x0, y, key):
        keys = random.split(key, steps)
        if formulation == "scan":
            def body(carry, k):
                x, total = carry
                x, excess = one(w2, w1, v, x, k)
                return (x, total + excess), None
            (x, excess), _ = jax.lax.scan(body, (x0, jnp.zeros((), x0.dtype)), keys)
        else:
            x, excess = x0, 0.0
            for i in range(steps):
                x, e = one(w2, w1, v, x, keys[i])
                excess = excess + e
        d = x[..., :observable] - y[..., :observable]
        return jnp.mean(jnp.sqrt(jnp.sum(d * d, axis=(1, 2, 3)))) + range_penalty * excess / steps

    return loss


def framework(jax, formulation):
    return f"jax {jax.__version__} jit, {formulation}"


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
    loss = make_loss(
        jax, meta["kernels"].split(","), meta["activation"], meta["boundary"], int(meta["observable"]), args.steps,
        args.formulation, jnp.float64, range_penalty=args.range_penalty)
    w2, w1, v = (jnp.asarray(weights[k], dtype=jnp.float64) for k in ("W2", "W1", "v"))
    grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3)))
    value, grads = grad(w2, w1, v, jnp.asarray(x0), jnp.asarray(y), jax.random.PRNGKey(0))
    for name, g in zip(("dW2", "dW1", "dv", "dx0"), grads):
        np.save(f"{args.out}/{name}.npy", np.asarray(g))
    json.dump({"loss": float(value)}, open(f"{args.out}/loss.json", "w"))


def bench_mode(args):
    import jax
    import jax.numpy as jnp

    cfg = CONFIGS[args.config]
    w2, w1, v, x0, y = (jnp.asarray(a) for a in config_arrays(args.config))
    loss = make_loss(
        jax, cfg["kernels"], "relu", "periodic", cfg["observable"], cfg["steps"], args.formulation, jnp.float32, cfg["p"])

    @jax.jit
    def train(params, first, second, x0, y, key, scalars):
        c2, mu, mu_next, schedule, schedule_next = (scalars[i] for i in range(5))
        value, grads = jax.value_and_grad(loss, argnums=(0, 1, 2))(*params, x0, y, key)
        out = ([], [], [])
        for theta, g, m, s in zip(params, grads, first, second):
            g = g / (jnp.sqrt(jnp.sum(g * g)) + 1e-8)
            m = BETA1 * m + (1 - BETA1) * g
            s = BETA2 * s + (1 - BETA2) * g * g
            numerator = (1 - mu) * g / (1 - schedule) + mu_next * m / (1 - schedule_next)
            for bucket, value_ in zip(out, (theta - LEARNING_RATE * numerator / (jnp.sqrt(s / c2) + EPSILON), m, s)):
                bucket.append(value_)
        return value, out

    state = {"params": [w2, w1, v], "m": [jnp.zeros_like(a) for a in (w2, w1, v)],
             "s": [jnp.zeros_like(a) for a in (w2, w1, v)], "key": jax.random.PRNGKey(0)}
    schedule = NadamSchedule()

    def run():
        state["key"], key = jax.random.split(state["key"])
        scalars = jnp.asarray(schedule.next(), dtype=jnp.float32)
        value, (state["params"], state["m"], state["s"]) = train(state["params"], state["m"], state["s"], x0, y, key, scalars)
        jax.block_until_ready(value)

    seconds = median_seconds(run, args.repeats)
    print(json.dumps({"framework": framework(jax, args.formulation), "config": args.config, "training_step_s": seconds,
                      "peak_rss_mb": peak_rss_mb()}))


def rollout_mode(args):
    import jax
    import jax.numpy as jnp

    w2, w1, v, x0, _ = (jnp.asarray(a) for a in config_arrays("head", batch=1))
    step = make_step(jax, HEAD_KERNELS, "relu", "periodic", args.formulation, jnp.float32)
    run = jax.jit(lambda x: jax.lax.fori_loop(0, 256, lambda _, x: step(w2, w1, v, x), x))
    seconds = median_seconds(lambda: jax.block_until_ready(run(x0)), args.repeats)
    print(json.dumps({"framework": framework(jax, args.formulation), "rollout_step_s": seconds / 256,
                      "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    cli(__doc__, FORMULATIONS, grad_mode, bench_mode, rollout_mode, range_penalty=True)
