"""The NCA of Richardson et al. written independently in TensorFlow, for the jobs of jax_nca.py:

  grad:  loss and gradients of t steps from a state against a target, for a model file written
         by `nca` (float64), to check `nca grad` against TensorFlow's autodiff;
  bench: time one forward+backward pass of the HEAD configuration in graph mode (tf.function),
         like `nca bench`.

Only numpy, tensorflow(-cpu) and safetensors; kernels, perception order and loss follow SPEC.md.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np

from nca_peer import HEAD_KERNELS, KERNELS, OBSERVABLE, cli, head_arrays, median_seconds


def make_loss(tf, kernels, activation, boundary, observable, steps):
    act = {"relu": tf.nn.relu, "linear": lambda a: a, "tanh": tf.tanh}[activation]

    def pad(x):
        if boundary == "periodic":
            x = tf.concat([x[:, -1:], x, x[:, :1]], axis=1)
            return tf.concat([x[:, :, -1:], x, x[:, :, :1]], axis=2)
        mode = {"zero": "CONSTANT", "reflect": "SYMMETRIC"}[boundary]
        return tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode=mode)

    def perceive(x):
        s = x.shape[1]
        padded = pad(x)
        outs = []
        for name in kernels:
            g = KERNELS[name]
            z = tf.add_n([g[di][dj] * padded[:, di:di + s, dj:dj + s, :] for di in range(3) for dj in range(3) if g[di][dj] != 0])
            outs.append(z)
        z = tf.stack(outs, axis=-1)  # R, S, S, C, K: channel-major (c, k) after reshape
        return tf.reshape(z, tf.concat([tf.shape(z)[:3], [-1]], axis=0))

    def loss(w2, w1, v, x0, y):
        x = x0
        for _ in range(steps):
            x = x + (tf.tensordot(act(tf.tensordot(perceive(x), w2, 1)), w1, 1) + v)  # x + f, f = u(z·W2)·W1 + v
        d = x[..., :observable] - y[..., :observable]
        return tf.reduce_mean(tf.sqrt(tf.reduce_sum(d * d, axis=(1, 2, 3))))

    return loss


def grad_mode(args):
    import tensorflow as tf
    from safetensors import safe_open
    from safetensors.numpy import load_file

    weights = load_file(args.model)
    with safe_open(args.model, "np") as f:
        meta = f.metadata()
    if float(meta["skip_probability"]) != 0:
        sys.exit("tf_nca.py grad: only p = 0 models (no stochastic mask)")
    loss = make_loss(tf, meta["kernels"].split(","), meta["activation"], meta["boundary"], int(meta["observable"]), args.steps)
    variables = [tf.constant(weights[k], dtype=tf.float64) for k in ("W2", "W1", "v")]
    x0 = tf.constant(np.load(args.state), dtype=tf.float64)
    y = tf.constant(np.load(args.target), dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(variables + [x0])
        value = loss(*variables, x0, y)
    grads = tape.gradient(value, variables + [x0])
    for name, g in zip(("dW2", "dW1", "dv", "dx0"), grads):
        np.save(f"{args.out}/{name}.npy", g.numpy())
    json.dump({"loss": float(value)}, open(f"{args.out}/loss.json", "w"))


def bench_mode(args):
    import tensorflow as tf

    w2, w1, v, x0, y = (tf.constant(a) for a in head_arrays(16))
    loss = make_loss(tf, HEAD_KERNELS, "relu", "periodic", OBSERVABLE, 32)

    @tf.function
    def step(w2, w1, v, x0, y):
        with tf.GradientTape() as tape:
            tape.watch([w2, w1, v])
            value = loss(w2, w1, v, x0, y)
        return value, tape.gradient(value, [w2, w1, v])

    seconds = median_seconds(lambda: [g.numpy() for g in step(w2, w1, v, x0, y)[1]], args.repeats)
    print(json.dumps({"framework": f"tensorflow {tf.__version__} (graph)", "forward_backward_s": seconds}))


if __name__ == "__main__":
    cli(__doc__, grad_mode, bench_mode)
