"""Benchmark of the skalign OT core against its peers, printed as one markdown table.

Sections (every pair is measured side by side in the same run, same threads):

- ``sinkhorn``: :func:`skalign.ot.sinkhorn` vs POT ``ot.sinkhorn(method="sinkhorn_log")``
  on NumPy, same cost, epsilon and stopping level (ours stops on the L1 row
  residual ``tol``, POT on the L2 column error, given ``tol / sqrt(n)`` so its L1
  error is at most ``tol`` too); both final L1 marginal errors are reported.
- ``grad``: gradient of ``L(plan) = <plan, W>`` w.r.t. the cost by the adjoint
  system (:func:`skalign.ot.implicit_cost_gradient`, after a forward
  :func:`skalign.ot.sinkhorn`) vs Torch autograd unrolled through the same number
  of log-domain Sinkhorn iterations; each method runs in its own subprocess and
  its peak memory is the rise of the peak RSS over the RSS before the solve.
- ``tiled``: :func:`skalign.ot.sinkhorn_tiled` at n = m = 50,000 points in 64
  dimensions (float32), in a subprocess that reports its own peak RSS (``VmHWM``).
  Not ``getrusage(...).ru_maxrss``: Linux carries the parent's peak RSS into a
  child across fork and exec, so a child of a parent that once held 2 GB reports
  2 GB whatever it does (and ``RUSAGE_CHILDREN`` inherits the same number).

Usage::

    python benchmarks/bench_ot_core.py                 # full run (~10 min on 2 cores)
    python benchmarks/bench_ot_core.py --quick         # small sizes, seconds
    python benchmarks/bench_ot_core.py --sections sinkhorn tiled --threads 1
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

SECTIONS = ("sinkhorn", "grad", "tiled")
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _set_threads(threads):
    # Before NumPy/Torch are imported, so BLAS and Torch both obey it.
    for var in THREAD_VARS:
        os.environ[var] = str(threads)


def _best_time(func, repeats):
    best, out = math.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - start)
    return best, out


def _status_mb(key):
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return math.nan


def _reset_peak_rss():
    """Reset VmHWM (Linux >= 4.0) so that the peak measured is the solve's own."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def _clouds(n, d, seed, shift=0.5):
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, d)) + shift


def _normalised_cost(n, seed):
    x, y = _clouds(n, 5, seed)
    cost = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    return cost / cost.max()


def _l1_errors(plan, a, b):
    return float(abs(plan.sum(1) - a).sum()), float(abs(plan.sum(0) - b).sum())


# --------------------------------------------------------------------------- sinkhorn
def bench_sinkhorn(sizes, epsilon=0.01, tol=1e-6):
    import warnings

    import numpy as np
    import ot

    from skalign.ot import sinkhorn

    rows = []
    for n in sizes:
        cost = _normalised_cost(n, seed=n)
        a = np.full(n, 1.0 / n)
        b = np.full(n, 1.0 / n)

        def ours(a=a, b=b, cost=cost):
            return sinkhorn(a, b, cost, epsilon, tol=tol, max_iter=100_000)

        def peer(a=a, b=b, cost=cost, n=n):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return ot.sinkhorn(
                    a,
                    b,
                    cost,
                    epsilon,
                    method="sinkhorn_log",
                    stopThr=tol / math.sqrt(n),
                    numItermax=100_000,
                    log=True,
                )

        t_ours, res = _best_time(ours, 1)
        t_peer, (plan, log) = _best_time(peer, 1)
        # Repeat where cheap and keep the best time of each.
        if t_ours < 5:
            t_ours = min(t_ours, _best_time(ours, 2)[0])
        if t_peer < 5:
            t_peer = min(t_peer, _best_time(peer, 2)[0])
        e_ours, e_peer = _l1_errors(res.plan, a, b), _l1_errors(plan, a, b)
        rows.append(
            (
                f"sinkhorn eps={epsilon} (cost/max), time",
                f"n=m={n}",
                f"{t_ours:.3f} s ({res.n_iter} it; L1 err rows {e_ours[0]:.1e}, "
                f"cols {e_ours[1]:.1e})",
                f"{t_peer:.3f} s ({log['niter']} it; L1 err rows {e_peer[0]:.1e}, "
                f"cols {e_peer[1]:.1e})",
                f"{t_ours / t_peer:.3f}x",
                f"plan L1 diff {abs(res.plan - plan).sum():.1e}; target <= 1.0x at n=2000",
            )
        )
    return rows


# ------------------------------------------------------------------------------ grad
def _grad_problem(n):
    import numpy as np

    cost = _normalised_cost(n, seed=10 + n)
    weights = np.random.default_rng(n).normal(size=(n, n))
    return cost, weights, np.full(n, 1.0 / n), np.full(n, 1.0 / n)


def grad_worker(method, n, epsilon, iters, out_path, repeats):
    """Run one gradient method in this (fresh) process; print JSON."""
    import numpy as np
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    from skalign.ot import implicit_cost_gradient, sinkhorn

    cost, weights, a, b = _grad_problem(n)
    _reset_peak_rss()
    base = _status_mb("VmRSS")

    if method == "adjoint":

        def forward():
            return sinkhorn(a, b, cost, epsilon, tol=1e-10, max_iter=100_000)

        def backward(res):
            return implicit_cost_gradient(res.plan, weights, epsilon, tol=1e-10)

    else:
        log_a, log_b = torch.log(torch.tensor(a)), torch.log(torch.tensor(b))
        w_t = torch.tensor(weights)

        def forward():
            c_t = torch.tensor(cost, requires_grad=True)
            f = torch.zeros(n, dtype=torch.float64)
            g = torch.zeros(n, dtype=torch.float64)
            # Same update order as skalign's solver: columns, then rows.
            for _ in range(iters):
                g = epsilon * (log_b - torch.logsumexp((f[:, None] - c_t) / epsilon, 0))
                f = epsilon * (log_a - torch.logsumexp((g[None, :] - c_t) / epsilon, 1))
            plan = torch.exp((f[:, None] + g[None, :] - c_t) / epsilon)
            return c_t, (plan * w_t).sum()

        def backward(out):
            c_t, loss = out
            loss.backward()
            return c_t.grad.numpy()

    t_fwd, t_bwd, n_iter = math.inf, math.inf, iters
    for _ in range(repeats):
        start = time.perf_counter()
        out = forward()
        mid = time.perf_counter()
        grad = backward(out)
        end = time.perf_counter()
        t_fwd, t_bwd = min(t_fwd, mid - start), min(t_bwd, end - mid)
        if method == "adjoint":
            n_iter = out.n_iter
    peak = _status_mb("VmHWM") - base
    np.save(out_path, grad)
    print(json.dumps(dict(forward=t_fwd, grad=t_bwd, n_iter=n_iter, peak_mb=peak)))


def _run_worker(args):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_grad(sizes, epsilon=0.05):
    import numpy as np

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            adj_path = os.path.join(tmp, f"adj{n}.npy")
            unr_path = os.path.join(tmp, f"unr{n}.npy")
            adj = _run_worker(["grad", "adjoint", n, epsilon, 0, adj_path, 3])
            iters = adj["n_iter"]
            # The unrolled tape holds ~6 n x m float64 arrays per iteration (measured).
            need_mb = 7 * iters * n * n * 8 / 2**20
            avail_mb = _meminfo_mb("MemAvailable")
            if need_mb > 0.5 * avail_mb:
                rows.append(
                    (
                        f"grad eps={epsilon}",
                        f"n=m={n}",
                        "",
                        "skipped",
                        "",
                        f"unrolled tape ~{need_mb:.0f} MB > half of available memory",
                    ),
                )
                continue
            repeats = 3 if n <= 500 else 1
            unr = _run_worker(
                ["grad", "unrolled", n, epsilon, iters, unr_path, repeats]
            )
            g_adj, g_unr = np.load(adj_path), np.load(unr_path)
            rel = float(np.abs(g_adj - g_unr).max() / np.abs(g_unr).max())
            t_adj = adj["forward"] + adj["grad"]
            t_unr = unr["forward"] + unr["grad"]
            rows.append(
                (
                    f"grad dL/dC eps={epsilon}, time fwd+grad",
                    f"n=m={n}",
                    f"{t_adj:.3f} s (solve {adj['forward']:.3f} + adjoint CG "
                    f"{adj['grad']:.3f})",
                    f"{t_unr:.3f} s (unrolled {iters} it {unr['forward']:.3f} + "
                    f"backward {unr['grad']:.3f})",
                    f"{t_adj / t_unr:.4f}x ({t_unr / t_adj:.0f}x faster)",
                    f"max rel grad diff {rel:.1e}; gradient-only ratio "
                    f"{adj['grad'] / unr['grad']:.4f}x; target >= 10x faster, diff <= 1e-5",
                )
            )
            rows.append(
                (
                    "grad dL/dC, peak memory rise",
                    f"n=m={n}",
                    f"{adj['peak_mb']:.0f} MB",
                    f"{unr['peak_mb']:.0f} MB",
                    f"{adj['peak_mb'] / unr['peak_mb']:.3f}x",
                    "VmHWM - VmRSS before the solve, separate subprocesses",
                )
            )
    return rows


def _meminfo_mb(key):
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return math.inf


# ----------------------------------------------------------------------------- tiled
def tiled_worker(n, d, epsilon, tol, max_iter, dtype):
    """Solve a 64-D Gaussian-mixture problem with the tiled solver; print JSON."""
    import numpy as np

    from skalign.ot import sinkhorn_tiled

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, d))
    x = (centres[rng.integers(0, 10, n)] + rng.normal(size=(n, d))).astype(dtype)
    # y is a shuffled noisy copy of x, so the plan has structure to find.
    perm = rng.permutation(n)
    y = (x[perm] + 0.5 * rng.normal(size=(n, d))).astype(dtype)
    before_mb = _status_mb("VmRSS")
    start = time.perf_counter()
    res = sinkhorn_tiled(
        x,
        y,
        epsilon=epsilon,
        cost_scale="median",
        tol=tol,
        max_iter=max_iter,
        check_every=1,
        warn=False,
    )
    elapsed = time.perf_counter() - start
    # VmHWM belongs to this process's own address space (ru_maxrss would start
    # from the parent's peak, inherited through fork and exec).
    peak_mb = _status_mb("VmHWM")
    matched = math.nan
    if max_iter > 1:
        # Row i of x is the partner of column inverse_perm[i] of y.
        partner = np.argsort(perm)
        matched = float(np.mean(res.argmax_rows() == partner))
    print(
        json.dumps(
            dict(
                time=elapsed,
                n_iter=res.n_iter,
                error=res.marginal_error,
                converged=res.converged,
                peak_mb=peak_mb,
                before_mb=before_mb,
                block_size=res.block_size,
                dtype=str(res.f.dtype),
                matched=matched,
            )
        )
    )


def bench_tiled(n, d=64, epsilon=0.1, tol=1e-3, max_iter=30):
    out = _run_worker(["tiled", n, d, epsilon, tol, max_iter, "float32"])
    # Peak memory is reached in the first sweep (same buffers every sweep).
    out64 = _run_worker(["tiled", n, d, epsilon, tol, 1, "float64"])
    rows = []
    for res, what in ((out, "solve"), (out64, "1 sweep, memory only")):
        dense_gb = n * n * (4 if res["dtype"] == "float32" else 8) / 1e9
        if what == "solve":
            timing = (
                f"{res['time']:.1f} s ({res['n_iter']} sweeps, "
                f"{res['time'] / res['n_iter']:.1f} s/sweep; row L1 err {res['error']:.1e}, "
                f"cols exact; converged={res['converged']}; argmax = true partner for "
                f"{100 * res['matched']:.1f}% of rows)"
            )
        else:
            timing = f"{res['time']:.1f} s for 1 sweep"
        rows.append(
            (
                f"sinkhorn_tiled {d}-D {res['dtype']}, eps={epsilon} (cost/median), "
                f"tol={tol}, {what}",
                f"n=m={n}",
                timing,
                f"dense {res['dtype']} n x m cost alone: {dense_gb:.1f} GB",
                "",
                f"peak RSS {res['peak_mb']:.0f} MB (block {res['block_size']} rows; RSS "
                f"{res['before_mb']:.0f} MB before the solve, with imports and data); "
                f"target < 2 GB: {'met' if res['peak_mb'] < 2048 else 'MISSED'}",
            )
        )
    return rows


# ------------------------------------------------------------------------------ main
def _print_table(rows, header):
    print("| benchmark | size | skalign | peer | skalign/peer time (memory) | notes |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print(header)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    parser.add_argument(
        "--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS)
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="threads for BLAS and Torch"
    )
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        kind, *rest = args.worker
        if kind == "grad":
            method, n, eps, iters, path, repeats = rest
            grad_worker(method, int(n), float(eps), int(iters), path, int(repeats))
        else:
            n, d, eps, tol, max_iter, dtype = rest
            tiled_worker(int(n), int(d), float(eps), float(tol), int(max_iter), dtype)
        return

    _set_threads(args.threads)
    start = time.perf_counter()
    rows = []
    if "sinkhorn" in args.sections:
        rows += bench_sinkhorn([200, 500] if args.quick else [500, 2000, 5000])
    if "grad" in args.sections:
        rows += bench_grad([200] if args.quick else [500, 2000])
    if "tiled" in args.sections:
        rows += bench_tiled(5000 if args.quick else 50_000)
    total = time.perf_counter() - start
    _print_table(
        rows,
        f"threads={args.threads} (OMP/MKL/OPENBLAS_NUM_THREADS and torch), "
        f"sections={' '.join(args.sections)}, quick={args.quick}, total {total:.0f} s, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end.",
    )


if __name__ == "__main__":
    main()
