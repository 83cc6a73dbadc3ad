"""Times `nca` against every formulation of every peer, each run in a fresh process, nca and the
peers alternating round by round, and prints one table per workload with the median of the
rounds and the ratio to nca; the fastest formulation of any framework is "the fastest peer".

Called by run.sh (which installs the peers and checks their gradients first):
  compare.py --nca PATH --python PATH --peer SCRIPT [--peer SCRIPT ...] [--rounds N]
Standard library and numpy only (numpy for the `nca train` data).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

WORKLOADS = {
    "head": dict(title="HEAD training (S 64, C 8, identity+laplacian, H 32, relu, R 16, t 32, p 0; one mini-batch)",
                 cells=16 * 64 * 64 * 32, flops=5280, target=5.0,
                 train=["--channels", "8", "--kernels", "identity,laplacian", "--hidden", "32", "--minibatch-size", "16"],
                 data=(2, 16, 64, 64, 2)),
    "big": dict(title="BIG training (S 64, C 16, identity+grad-x+grad-y+laplacian, H 64, relu, R 8, t 32, p 0.5)",
                cells=8 * 64 * 64 * 32, flops=33216, target=3.0,
                train=["--channels", "16", "--observable", "4", "--kernels", "identity,grad-x,grad-y,laplacian", "--hidden", "64",
                       "--skip-probability", "0.5", "--minibatch-size", "8"],
                data=(2, 8, 64, 64, 4)),
}


def run_json(command, env=None):
    """The last JSON line a command prints, or None (with the reason on stderr) when it fails."""
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"  note: {' '.join(command[-6:])} failed: {tail[:160]}", file=sys.stderr)
        return None
    return json.loads(lines[-1])


def formulations(python, peer):
    result = subprocess.run([python, peer, "formulations"], capture_output=True, text=True, check=True)
    return result.stdout.split()


def nca_train(nca, config, folder):
    """A real `nca train` run of the workload's shape on random data (60 epochs): the median of
    its per-epoch wall times (metrics.csv) and the process's peak RSS in MB."""
    import numpy as np

    spec = WORKLOADS[config]
    data = os.path.join(folder, f"{config}.npy")
    np.save(data, np.random.default_rng(5).random(spec["data"]).astype(np.float32))
    out = os.path.join(folder, f"run-{config}")
    command = [nca, "train", "--data", data, "--time-sampling", "32", "--epochs", "60", "--out", out] + spec["train"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        print(f"  note: nca train failed: {process.stderr.read().decode()[-200:]}", file=sys.stderr)
        return None
    with open(os.path.join(out, "metrics.csv")) as f:
        rows = f.read().splitlines()
    header = rows[0].split(",")
    times = [float(r.split(",")[header.index("wall_time_s")]) for r in rows[1:]]
    epochs = [b - a for a, b in zip(times, times[1:])]
    return statistics.median(epochs), usage.ru_maxrss / 1024


def row(name, seconds, cells, flops, rss, ratio):
    rate = f"{cells / seconds / 1e6:10.2f} {cells * flops / seconds / 1e9:8.1f}" if cells else f"{'':10} {'':8}"
    rss = f"{rss:8.0f}" if rss is not None else f"{'':8}"
    print(f"  {name:44s} {seconds:9.4f} {rate} {rss} {ratio:>8}")


def training(args, config, peers, folder):
    spec = WORKLOADS[config]
    print(f"== {spec['title']}")
    print(f"   {args.rounds} rounds; each a fresh process: `nca bench` (median of 15 epochs), then every peer "
          f"formulation (median of 5 steps)")
    real = nca_train(args.nca, config, folder)
    ours, times = [], {}
    for round_ in range(args.rounds):
        line = run_json([args.nca, "bench", "--json", "--config", config, "--repeats", "15"])
        ours.append((line["epoch_s"], line["training_step_s"], line["peak_rss_mb"]))
        for peer, formulation in peers:
            line = run_json([args.python, peer, "bench", "--config", config, "--formulation", formulation, "--repeats", "5"])
            if line is not None:
                times.setdefault(line["framework"], []).append((line["training_step_s"], line["peak_rss_mb"]))
        print(f"   round {round_ + 1}: nca epoch {ours[-1][0]:.4f} s; fastest peer "
              + (f"{min(t[-1][0] for t in times.values()):.4f} s" if times else "none"))
    epoch = statistics.median(o[0] for o in ours)
    print(f"  {'':44s} {'s/step':>9} {'Mcell-st/s':>10} {'GFLOP/s':>8} {'peak MB':>8} {'÷ nca':>8}")
    row("nca epoch (nca bench, median of rounds)", epoch, spec["cells"], spec["flops"], None, "1.00")
    row("nca training step (nca bench)", statistics.median(o[1] for o in ours), spec["cells"], spec["flops"],
        max(o[2] for o in ours), f"{statistics.median(o[1] for o in ours) / epoch:.2f}")
    if real is not None:
        row("nca train, 60 epochs (median epoch, its RSS)", real[0], spec["cells"], spec["flops"], real[1],
            f"{real[0] / epoch:.2f}")
    medians = {name: statistics.median(t[0] for t in runs) for name, runs in times.items()}
    for name in sorted(medians, key=medians.get):
        row(name, medians[name], spec["cells"], spec["flops"], max(t[1] for t in times[name]), f"{medians[name] / epoch:.2f}")
    if medians:
        fastest = min(medians, key=medians.get)
        ratio = medians[fastest] / epoch
        verdict = "reached" if ratio >= spec["target"] else "not reached"
        print(f"  fastest peer: {fastest}, {medians[fastest]:.4f} s; nca's epoch is {ratio:.2f}x faster "
              f"(target {spec['target']:.0f}x: {verdict})")


def rollout(args, peers):
    print("== HEAD rollout (R 1, S 64, C 8, 256 steps, no gradients)")
    print(f"   {args.rounds} rounds; each a fresh process: `nca bench` (median of 15), then every peer formulation (median of 5)")
    ours, times = [], {}
    for _ in range(args.rounds):
        ours.append(run_json([args.nca, "bench", "--json", "--repeats", "15"])["rollout_step_s"])
        for peer, formulation in peers:
            line = run_json([args.python, peer, "rollout", "--formulation", formulation, "--repeats", "5"])
            if line is not None:
                times.setdefault(line["framework"], []).append(line["rollout_step_s"])
    step = statistics.median(ours)
    print(f"  {'':44s} {'µs/step':>9} {'÷ nca':>8}")
    print(f"  {'nca rollout (median of rounds)':44s} {step * 1e6:9.1f} {'1.00':>8}")
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name in sorted(medians, key=medians.get):
        print(f"  {name:44s} {medians[name] * 1e6:9.1f} {medians[name] / step:8.2f}")
    if medians:
        fastest = min(medians, key=medians.get)
        ratio = medians[fastest] / step
        print(f"  fastest peer: {fastest}, {medians[fastest] * 1e6:.1f} µs; nca is {ratio:.2f}x faster "
              f"(target 5x: {'reached' if ratio >= 5 else 'not reached'})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nca", required=True)
    parser.add_argument("--python", required=True)
    parser.add_argument("--peer", action="append", default=[])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["head", "big", "rollout"], action="append")
    args = parser.parse_args()
    peers = [(peer, f) for peer in args.peer for f in formulations(args.python, peer)]
    print("peer formulations: " + ", ".join(f"{os.path.basename(p).replace('_nca.py', '')} {f}" for p, f in peers))
    start = time.time()
    with tempfile.TemporaryDirectory() as folder:
        for job in args.only or ["head", "big", "rollout"]:
            if job == "rollout":
                rollout(args, peers)
            else:
                training(args, job, peers, folder)
    print(f"(whole comparison: {(time.time() - start) / 60:.1f} min)")


if __name__ == "__main__":
    main()
