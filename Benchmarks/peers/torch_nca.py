"""The NCA of Richardson et al. written independently in PyTorch, for the jobs of jax_nca.py:

  grad:    loss and gradients of t steps from a state against a target, for a model file
           written by `nca` (float64), to check `nca grad` against PyTorch's autograd;
  bench:   time one training step (forward, loss, backward, gradient normalisation, Nadam) of
           the HEAD or BIG configuration;
  rollout: time a free rollout of one HEAD lattice (256 steps, no autograd).

Every job takes --formulation, the ways a competent PyTorch user would write it:
  conv2d:  eager, NCHW, perception as one grouped (depthwise) conv2d on the circularly padded
           state, the dense layers as 1×1 conv2d (the usual PyTorch NCA);
  slices:  eager, NHWC, perception as a sum of shifted slices, the dense layers as matmul;
  compile: the conv2d formulation under torch.compile (inductor, CPU): the loss of a training
           step compiled whole (forward and, through AOTAutograd, backward), one step for
           rollouts.

Only numpy, torch and safetensors; kernels, perception order and loss follow SPEC.md.
"""
import json
import sys

import numpy as np

from nca_peer import (
    BETA1, BETA2, CONFIGS, EPSILON, HEAD_KERNELS, KERNELS, LEARNING_RATE, NadamSchedule, cli, config_arrays, median_seconds,
    peak_rss_mb)

FORMULATIONS = ["conv2d", "slices", "compile"]


def channels_first(formulation):
    return formulation != "slices"


def make_step(torch, kernels, activation, boundary, formulation, dtype):
    """x ↦ x + σ ⊙ (u(perceive(x) · W2) · W1 + v), σ = 1 when None; x is R × S × S × C for
    slices, R × C × S × S otherwise (the weights are always W2 K·C × H, W1 H × C, v C)."""
    F = torch.nn.functional
    act = {"relu": torch.relu, "linear": lambda a: a, "tanh": torch.tanh}[activation]

    if not channels_first(formulation):
        def pad(x):
            if boundary == "zero":
                return F.pad(x, (0, 0, 1, 1, 1, 1))
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

    taps = torch.tensor([KERNELS[name] for name in kernels], dtype=dtype)  # K, 3, 3
    filters = {}

    def pad(x):
        if boundary == "zero":
            return F.pad(x, (1, 1, 1, 1))
        if boundary == "periodic":
            return F.pad(x, (1, 1, 1, 1), mode="circular")
        x = torch.cat([x[:, :, :1], x, x[:, :, -1:]], dim=2)  # symmetric: repeat the edge cell
        return torch.cat([x[:, :, :, :1], x, x[:, :, :, -1:]], dim=3)

    def step(w2, w1, v, x, sigma=None):
        c = x.shape[1]
        if c not in filters:  # weight[c·K + k, 0] = kernel k: output channel c·K + k, channel-major
            filters[c] = taps.repeat(c, 1, 1).unsqueeze(1)
        z = F.conv2d(pad(x), filters[c], groups=c)
        a = act(F.conv2d(z, w2.t()[:, :, None, None]))
        f = F.conv2d(a, w1.t()[:, :, None, None], bias=v)
        return x + f if sigma is None else x + sigma * f

    return step


def make_loss(torch, kernels, activation, boundary, observable, steps, formulation, dtype, p=0.0):
    """Loss of `steps` steps; with p > 0 each step updates a cell with probability 1 − p. States
    and targets in the formulation's layout."""
    step = make_step(torch, kernels, activation, boundary, formulation, dtype)
    first = channels_first(formulation)

    def loss(w2, w1, v, x0, y):
        x = x0
        for _ in range(steps):
            sigma = None
            if p > 0:
                shape = (x.shape[0], 1) + x.shape[2:] if first else x.shape[:3] + (1,)
                sigma = (torch.rand(shape, dtype=x.dtype) >= p).to(x.dtype)
            x = step(w2, w1, v, x, sigma)
        d = x[:, :observable] - y[:, :observable] if first else x[..., :observable] - y[..., :observable]
        return torch.sqrt((d * d).sum(dim=(1, 2, 3))).mean()

    if formulation == "compile":
        loss = torch.compile(loss)
    return loss


def layout(torch, array, formulation):
    """An R × S × S × C numpy array as the formulation's tensor."""
    t = torch.from_numpy(np.ascontiguousarray(array))
    return t.permute(0, 3, 1, 2).contiguous() if channels_first(formulation) else t


def framework(torch, formulation):
    mode = "torch.compile, conv2d" if formulation == "compile" else f"eager, {formulation}"
    return f"pytorch {torch.__version__.split('+')[0]} {mode}"


def grad_mode(args):
    import torch
    from safetensors import safe_open
    from safetensors.numpy import load_file

    weights = load_file(args.model)
    with safe_open(args.model, "np") as f:
        meta = f.metadata()
    if float(meta["skip_probability"]) != 0:
        sys.exit("torch_nca.py grad: only p = 0 models (no stochastic mask)")
    loss = make_loss(
        torch, meta["kernels"].split(","), meta["activation"], meta["boundary"], int(meta["observable"]), args.steps,
        args.formulation, torch.float64)
    tensors = [torch.tensor(weights[k], dtype=torch.float64, requires_grad=True) for k in ("W2", "W1", "v")]
    x0 = layout(torch, np.load(args.state).astype(np.float64), args.formulation).requires_grad_(True)
    y = layout(torch, np.load(args.target).astype(np.float64), args.formulation)
    value = loss(*tensors, x0, y)
    value.backward()
    dx0 = x0.grad.permute(0, 2, 3, 1) if channels_first(args.formulation) else x0.grad
    for name, g in zip(("dW2", "dW1", "dv", "dx0"), [t.grad for t in tensors] + [dx0]):
        np.save(f"{args.out}/{name}.npy", g.contiguous().numpy())
    json.dump({"loss": value.item()}, open(f"{args.out}/loss.json", "w"))


def bench_mode(args):
    import torch

    cfg = CONFIGS[args.config]
    w2, w1, v, x0, y = config_arrays(args.config)
    w2, w1, v = (torch.from_numpy(a) for a in (w2, w1, v))
    x0, y = (layout(torch, a, args.formulation) for a in (x0, y))
    params = [w2, w1, v]
    for p in params:
        p.requires_grad_(True)
    first = [torch.zeros_like(p) for p in params]
    second = [torch.zeros_like(p) for p in params]
    loss = make_loss(torch, cfg["kernels"], "relu", "periodic", cfg["observable"], cfg["steps"], args.formulation,
                     torch.float32, cfg["p"])
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
    print(json.dumps({"framework": framework(torch, args.formulation), "config": args.config, "training_step_s": seconds,
                      "peak_rss_mb": peak_rss_mb()}))


def rollout_mode(args):
    import torch

    w2, w1, v, x0, _ = config_arrays("head", batch=1)
    w2, w1, v = (torch.from_numpy(a) for a in (w2, w1, v))
    x0 = layout(torch, x0, args.formulation)
    step = make_step(torch, HEAD_KERNELS, "relu", "periodic", args.formulation, torch.float32)
    if args.formulation == "compile":
        step = torch.compile(step)

    def run():
        x = x0
        for _ in range(256):
            x = step(w2, w1, v, x)
        return x

    with torch.no_grad():
        seconds = median_seconds(run, args.repeats)
    print(json.dumps({"framework": framework(torch, args.formulation), "rollout_step_s": seconds / 256,
                      "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    cli(__doc__, FORMULATIONS, grad_mode, bench_mode, rollout_mode)
