"""The NCA of Richardson et al. written independently in TensorFlow, for the jobs of jax_nca.py:

  grad:    loss and gradients of t steps from a state against a target, for a model file
           written by `nca` (float64), to check `nca grad` against TensorFlow's autodiff;
  bench:   time one training step (forward, loss, backward, gradient normalisation, Nadam) of
           the HEAD or BIG configuration, like `nca bench --config`;
  rollout: time a free rollout of one HEAD lattice (256 steps, no gradients).

Every job takes --formulation, the ways a competent TensorFlow user would write it, all as a
tf.function graph:
  depthwise:     perception as one tf.nn.depthwise_conv2d on the padded NHWC state, the dense
                 layers as tf.einsum;
  slices:        perception as tf.add_n of shifted slices, the dense layers as tf.tensordot;
  depthwise-xla: the first, compiled by XLA (jit_compile=True);
  slices-xla:    the second, compiled by XLA.

Only numpy, tensorflow(-cpu) and safetensors; kernels, perception order and loss follow SPEC.md.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np

from nca_peer import (
    BETA1, BETA2, CONFIGS, EPSILON, HEAD_KERNELS, KERNELS, LEARNING_RATE, NadamSchedule, cli, config_arrays, median_seconds,
    peak_rss_mb)

FORMULATIONS = ["depthwise", "slices", "depthwise-xla", "slices-xla"]


def make_step(tf, kernels, activation, boundary, formulation, dtype):
    """x ↦ x + σ ⊙ (u(perceive(x) · W2) · W1 + v), σ = 1 when None."""
    act = {"relu": tf.nn.relu, "linear": lambda a: a, "tanh": tf.tanh}[activation]
    depthwise = formulation.startswith("depthwise")

    def pad(x):
        if boundary == "periodic":
            x = tf.concat([x[:, -1:], x, x[:, :1]], axis=1)
            return tf.concat([x[:, :, -1:], x, x[:, :, :1]], axis=2)
        mode = {"zero": "CONSTANT", "reflect": "SYMMETRIC"}[boundary]
        return tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode=mode)

    def perceive_slices(x):
        s = x.shape[1]
        padded = pad(x)
        outs = []
        for name in kernels:
            g = KERNELS[name]
            z = tf.add_n([g[di][dj] * padded[:, di:di + s, dj:dj + s, :] for di in range(3) for dj in range(3) if g[di][dj] != 0])
            outs.append(z)
        z = tf.stack(outs, axis=-1)  # R, S, S, C, K: channel-major (c, k) after reshape
        return tf.reshape(z, tf.concat([tf.shape(z)[:3], [-1]], axis=0))

    filters = {}

    def perceive_depthwise(x):
        c = x.shape[-1]
        if c not in filters:
            # filter[di, dj, c, k] = kernel k's tap: output channel c·K + k, the channel-major order.
            taps = np.array([KERNELS[name] for name in kernels], dtype=np.float64).transpose(1, 2, 0)  # 3, 3, K
            filters[c] = tf.constant(np.tile(taps[:, :, None, :], (1, 1, c, 1)), dtype=dtype)
        return tf.nn.depthwise_conv2d(pad(x), filters[c], strides=[1, 1, 1, 1], padding="VALID")

    def step(w2, w1, v, x, sigma=None):
        if depthwise:
            f = tf.einsum("rijh,hc->rijc", act(tf.einsum("rijk,kh->rijh", perceive_depthwise(x), w2)), w1) + v
        else:
            f = tf.tensordot(act(tf.tensordot(perceive_slices(x), w2, 1)), w1, 1) + v
        return x + f if sigma is None else x + sigma * f

    return step


def make_loss(tf, kernels, activation, boundary, observable, steps, formulation, dtype, p=0.0):
    """Loss of `steps` steps; with p > 0 each step updates a cell with probability 1 − p."""
    step = make_step(tf, kernels, activation, boundary, formulation, dtype)

    def loss(w2, w1, v, x0, y):
        x = x0
        for _ in range(steps):
            sigma = None
            if p > 0:
                sigma = tf.cast(tf.random.uniform(tf.concat([tf.shape(x)[:3], [1]], axis=0)) >= p, x.dtype)
            x = step(w2, w1, v, x, sigma)
        d = x[..., :observable] - y[..., :observable]
        return tf.reduce_mean(tf.sqrt(tf.reduce_sum(d * d, axis=(1, 2, 3))))

    return loss


def compile_(tf, function, formulation):
    return tf.function(function, jit_compile=formulation.endswith("-xla"))


def framework(tf, formulation):
    name = formulation.replace("-xla", "")
    return f"tensorflow {tf.__version__} {'XLA' if formulation.endswith('-xla') else 'graph'}, {name}"


def grad_mode(args):
    import tensorflow as tf
    from safetensors import safe_open
    from safetensors.numpy import load_file

    weights = load_file(args.model)
    with safe_open(args.model, "np") as f:
        meta = f.metadata()
    if float(meta["skip_probability"]) != 0:
        sys.exit("tf_nca.py grad: only p = 0 models (no stochastic mask)")
    loss = make_loss(
        tf, meta["kernels"].split(","), meta["activation"], meta["boundary"], int(meta["observable"]), args.steps,
        args.formulation, tf.float64)
    variables = [tf.constant(weights[k], dtype=tf.float64) for k in ("W2", "W1", "v")]
    x0 = tf.constant(np.load(args.state), dtype=tf.float64)
    y = tf.constant(np.load(args.target), dtype=tf.float64)

    def value_and_grads(w2, w1, v, x0, y):
        with tf.GradientTape() as tape:
            tape.watch([w2, w1, v, x0])
            value = loss(w2, w1, v, x0, y)
        return value, tape.gradient(value, [w2, w1, v, x0])

    value, grads = compile_(tf, value_and_grads, args.formulation)(*variables, x0, y)
    for name, g in zip(("dW2", "dW1", "dv", "dx0"), grads):
        np.save(f"{args.out}/{name}.npy", g.numpy())
    json.dump({"loss": float(value)}, open(f"{args.out}/loss.json", "w"))


def bench_mode(args):
    import tensorflow as tf

    cfg = CONFIGS[args.config]
    arrays = config_arrays(args.config)
    params = [tf.Variable(a) for a in arrays[:3]]
    first = [tf.Variable(tf.zeros_like(a)) for a in arrays[:3]]
    second = [tf.Variable(tf.zeros_like(a)) for a in arrays[:3]]
    x0, y = (tf.constant(a) for a in arrays[3:])
    loss = make_loss(tf, cfg["kernels"], "relu", "periodic", cfg["observable"], cfg["steps"], args.formulation, tf.float32,
                     cfg["p"])
    schedule = NadamSchedule()

    def train(x0, y, scalars):
        c2, mu, mu_next, prod, prod_next = (scalars[i] for i in range(5))
        with tf.GradientTape() as tape:
            value = loss(*params, x0, y)
        for theta, g, m, s in zip(params, tape.gradient(value, params), first, second):
            g = g / (tf.norm(g) + 1e-8)
            m.assign(BETA1 * m + (1 - BETA1) * g)
            s.assign(BETA2 * s + (1 - BETA2) * g * g)
            numerator = (1 - mu) * g / (1 - prod) + mu_next * m / (1 - prod_next)
            theta.assign_sub(LEARNING_RATE * numerator / (tf.sqrt(s / c2) + EPSILON))
        return value

    train = compile_(tf, train, args.formulation)
    seconds = median_seconds(lambda: train(x0, y, tf.constant(schedule.next(), dtype=tf.float32)).numpy(), args.repeats)
    print(json.dumps({"framework": framework(tf, args.formulation), "config": args.config,
                      "training_step_s": seconds, "peak_rss_mb": peak_rss_mb()}))


def rollout_mode(args):
    import tensorflow as tf

    w2, w1, v, x0, _ = (tf.constant(a) for a in config_arrays("head", batch=1))
    step = make_step(tf, HEAD_KERNELS, "relu", "periodic", args.formulation, tf.float32)

    def run(x):
        for _ in tf.range(256):  # autograph: one while loop in the graph
            x = step(w2, w1, v, x)
        return x

    run = compile_(tf, run, args.formulation)
    seconds = median_seconds(lambda: run(x0).numpy(), args.repeats)
    print(json.dumps({"framework": framework(tf, args.formulation), "rollout_step_s": seconds / 256,
                      "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    cli(__doc__, FORMULATIONS, grad_mode, bench_mode, rollout_mode)
