"""The NCA of Richardson et al. written independently in PyTorch, for the same two jobs as
jax_nca.py:

  grad:  loss and gradients of t steps from a state against a target, for a model file written
         by `nca` (float64), to check `nca grad` against PyTorch's autograd;
  bench: time one forward+backward pass of the HEAD configuration in eager mode, like `nca bench`.

Only numpy, torch and safetensors; kernels, perception order and loss follow SPEC.md.
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


def make_loss(torch, kernels, activation, boundary, observable, steps):
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

    def loss(w2, w1, v, x0, y):
        x = x0
        for _ in range(steps):
            f = act(perceive(x) @ w2) @ w1 + v
            x = x + f
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
    json.dump({"loss": float(value)}, open(f"{args.out}/loss.json", "w"))


def bench_mode(args):
    import torch

    rng = np.random.default_rng(1)
    c, h, r, s, t = 8, 32, 16, 64, 32
    lim = np.sqrt(6 / (2 * c + h))
    w2 = torch.tensor(rng.uniform(-lim, lim, (2 * c, h)), dtype=torch.float32, requires_grad=True)
    w1 = torch.tensor(rng.uniform(-0.01, 0.01, (h, c)), dtype=torch.float32, requires_grad=True)
    v = torch.zeros((c,), dtype=torch.float32, requires_grad=True)
    x0 = torch.tensor(rng.random((r, s, s, c)), dtype=torch.float32)
    y = torch.tensor(rng.random((r, s, s, 2)), dtype=torch.float32)
    loss = make_loss(torch, ["identity", "laplacian"], "relu", "periodic", 2, t)

    def step():
        for p in (w2, w1, v):
            p.grad = None
        loss(w2, w1, v, x0, y).backward()

    step()  # warm up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    times.sort()
    print(json.dumps({"framework": f"pytorch {torch.__version__.split('+')[0]} (eager)", "forward_backward_s": times[len(times) // 2]}))



def rollout_mode(args):
    """Seconds per step of a free rollout of one 64 × 64 lattice (R 1, C 8), 256 steps, no autograd."""
    import torch

    rng = np.random.default_rng(1)
    c, h, s, t = 8, 32, 64, 256
    lim = np.sqrt(6 / (2 * c + h))
    w2 = torch.tensor(rng.uniform(-lim, lim, (2 * c, h)), dtype=torch.float32)
    w1 = torch.tensor(rng.uniform(-0.01, 0.01, (h, c)), dtype=torch.float32)
    v = torch.zeros((c,), dtype=torch.float32)
    x0 = torch.tensor(rng.random((1, s, s, c)), dtype=torch.float32)
    kernels = [KERNELS[k] for k in ("identity", "laplacian")]

    def run(x):
        for _ in range(t):
            p = torch.cat([x[:, -1:], x, x[:, :1]], dim=1)
            p = torch.cat([p[:, :, -1:], p, p[:, :, :1]], dim=2)
            z = torch.stack([sum(g[di][dj] * p[:, di:di + s, dj:dj + s, :] for di in range(3) for dj in range(3) if g[di][dj] != 0)
                             for g in kernels], dim=-1).reshape(1, s, s, -1)
            x = x + torch.relu(z @ w2) @ w1 + v
        return x

    with torch.no_grad():
        run(x0)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            run(x0)
            times.append((time.perf_counter() - start) / t)
    times.sort()
    print(json.dumps({"framework": f"pytorch {torch.__version__.split('+')[0]} (eager)", "rollout_step_s": times[len(times) // 2]}))


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
