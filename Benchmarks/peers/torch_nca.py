"""The NCA of Richardson et al. written independently in PyTorch, for the jobs of jax_nca.py:

  grad:    loss and gradients of t steps from a state against a target, for a model file
           written by `nca` (float64), to check `nca grad` against PyTorch's autograd;
  bench:   time one training step (forward, loss, backward, gradient normalisation, Nadam) of
           the HEAD or BIG configuration in eager mode;
  rollout: time a free rollout of one HEAD lattice (256 steps, no autograd).

Only numpy, torch and safetensors; kernels, perception order and loss follow SPEC.md.
"""
import json
import sys

import numpy as np

from nca_peer import (
    BETA1, BETA2, CONFIGS, EPSILON, HEAD_KERNELS, KERNELS, LEARNING_RATE, NadamSchedule, cli, config_arrays, median_seconds,
    peak_rss_mb)


def make_step(torch, kernels, activation, boundary):
    """x ↦ x + u(perceive(x) · W2) · W1 + v (p = 0)."""
    act = {"relu": torch.relu, "linear": lambda a: a, "tanh": torch.tanh}[activation]

    def pad(x):
        if boundary == "zero":
            return torch.nn.functional.pad(x, (0, 0, 1, 1, 1, 1))
        if boundary == "periodic":
            x = torch.cat([x[:, -1:], x, x[:, :1]], dim=1)
            return torch.cat([x[:, :, -1:], x, x[:, :, :1]], dim=2)
        # reflect: the edge cell is mirrored (numpy's "symmetric"); for one cell that repeats it
        x = torch.cat([x[:, :1], x, x[:, -1:]], dim=1)
        return torch.cat([x[:, :, :1], x, x[:, :, -1:]], dim=2)

    def perceive(x):
        s = x.shape[1]
        padded = pad(x)
        outs = []
        for name in kernels:
            g = KERNELS[name]
            z = sum(g[di][dj] * padded[:, di:di + s, dj:dj + s, :] for di in range(3) for dj in range(3) if g[di][dj] != 0)
            outs.append(z)
        z = torch.stack(outs, dim=-1)  # R, S, S, C, K: channel-major (c, k) after reshape
        return z.reshape(z.shape[:3] + (-1,))

    def step(w2, w1, v, x, sigma=None):
        f = act(perceive(x) @ w2) @ w1 + v
        return x + f if sigma is None else x + sigma * f

    return step


def make_loss(torch, kernels, activation, boundary, observable, steps, p=0.0):
    """Loss of `steps` steps; with p > 0 each step updates a cell with probability 1 − p."""
    step = make_step(torch, kernels, activation, boundary)

    def loss(w2, w1, v, x0, y):
        x = x0
        for _ in range(steps):
            sigma = (torch.rand(x.shape[:3] + (1,)) >= p).to(x.dtype) if p > 0 else None
            x = step(w2, w1, v, x, sigma)
        d = x[..., :observable] - y[..., :observable]
        return torch.sqrt((d * d).sum(dim=(1, 2, 3))).mean()

    return loss


def grad_mode(args):
    import torch
    from safetensors import safe_open
    from safetensors.numpy import load_file

    weights = load_file(args.model)
    with safe_open(args.model, "np") as f:
        meta = f.metadata()
    if float(meta["skip_probability"]) != 0:
        sys.exit("torch_nca.py grad: only p = 0 models (no stochastic mask)")
    loss = make_loss(torch, meta["kernels"].split(","), meta["activation"], meta["boundary"], int(meta["observable"]), args.steps)
    tensors = [torch.tensor(weights[k], dtype=torch.float64, requires_grad=True) for k in ("W2", "W1", "v")]
    x0 = torch.tensor(np.load(args.state), dtype=torch.float64, requires_grad=True)
    y = torch.tensor(np.load(args.target), dtype=torch.float64)
    value = loss(*tensors, x0, y)
    value.backward()
    for name, t in zip(("dW2", "dW1", "dv", "dx0"), tensors + [x0]):
        np.save(f"{args.out}/{name}.npy", t.grad.numpy())
    json.dump({"loss": value.item()}, open(f"{args.out}/loss.json", "w"))


def version(torch):
    return f"pytorch {torch.__version__.split('+')[0]} (eager)"


def bench_mode(args):
    import torch

    cfg = CONFIGS[args.config]
    w2, w1, v, x0, y = (torch.from_numpy(a) for a in config_arrays(args.config))
    params = [w2, w1, v]
    for p in params:
        p.requires_grad_(True)
    first = [torch.zeros_like(p) for p in params]
    second = [torch.zeros_like(p) for p in params]
    loss = make_loss(torch, cfg["kernels"], "relu", "periodic", cfg["observable"], cfg["steps"], cfg["p"])
    schedule = NadamSchedule()

    def step():
        for p in params:
            p.grad = None
        loss(w2, w1, v, x0, y).backward()
        c2, mu, mu_next, prod, prod_next = schedule.next()
        with torch.no_grad():
            for theta, m, s in zip(params, first, second):
                g = theta.grad / (theta.grad.norm() + 1e-8)
                m.mul_(BETA1).add_((1 - BETA1) * g)
                s.mul_(BETA2).add_((1 - BETA2) * g * g)
                numerator = (1 - mu) * g / (1 - prod) + mu_next * m / (1 - prod_next)
                theta.sub_(LEARNING_RATE * numerator / ((s / c2).sqrt() + EPSILON))

    seconds = median_seconds(step, args.repeats)
    print(json.dumps({"framework": version(torch), "config": args.config, "training_step_s": seconds,
                      "peak_rss_mb": peak_rss_mb()}))


def rollout_mode(args):
    import torch

    w2, w1, v, x0, _ = (torch.from_numpy(a) for a in config_arrays("head", batch=1))
    step = make_step(torch, HEAD_KERNELS, "relu", "periodic")

    def run():
        x = x0
        for _ in range(256):
            x = step(w2, w1, v, x)
        return x

    with torch.no_grad():
        seconds = median_seconds(run, args.repeats)
    print(json.dumps({"framework": version(torch), "rollout_step_s": seconds / 256}))


if __name__ == "__main__":
    cli(__doc__, grad_mode, bench_mode, rollout_mode)
