"""Speed, accuracy and memory of polymodal's closed-form CCA against scikit-learn's iterative CCA.

Data: the noisy two-view MNIST views (Wang et al. 2015), 784 pixels per view. Measured:

* 10,000 x 784 per view, 10 components: fit time of ``polymodal.multiview.CCA`` (best of 5) and of
  ``sklearn.cross_decomposition.CCA`` (one fit, default settings), and the sum of the 10 canonical
  correlations each reaches on the training views and on 10,000 held-out pairs;
* 50,000 x 784 per view: fit time of polymodal's CCA;
* peak memory of a 50,000-sample fit, measured in a fresh subprocess with ``tracemalloc`` (numpy
  reports its buffers to it) after the views are loaded, compared to the size of the two views.

Run from the repository root::

    python benchmarks/cca_speed.py [--data PATH]

Writes ``benchmarks/results/cca_speed.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from noisy_mnist_multiview import default_data_path, load_noisy_mnist
from sklearn.cross_decomposition import CCA as SklearnCCA

from polymodal.bench.docs import write_benchmarks_doc
from polymodal.multiview import CCA
from polymodal.multiview._base import column_correlations
from polymodal.storage.atomic import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
N_COMPONENTS = 10


def corr_sum(model: object, X: np.ndarray, Y: np.ndarray) -> float:
    xs, ys = model.transform(X, Y)  # type: ignore[attr-defined]
    return float(column_correlations(xs, ys).sum())


def best_fit_time(make, X: np.ndarray, Y: np.ndarray, repeats: int) -> tuple[float, object]:
    best, model = np.inf, None
    for _ in range(repeats):
        model = make()
        start = time.perf_counter()
        model.fit(X, Y)
        best = min(best, time.perf_counter() - start)
    return best, model


def memory_child(path: str) -> None:
    """Load the views from ``path`` and print the fit's peak traced memory as JSON."""
    import resource
    import tracemalloc

    views = np.load(path)
    X, Y = views["x"], views["y"]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    start = time.perf_counter()
    CCA(N_COMPONENTS).fit(X, Y)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "data_bytes": int(X.nbytes + Y.nbytes),
                "fit_peak_traced_bytes": int(peak),
                "max_rss_bytes_before_fit": int(rss_before) * 1024,
                "max_rss_bytes_after_fit": int(rss_after) * 1024,
                "fit_seconds": seconds,
            }
        )
    )


def measure_memory(X: np.ndarray, Y: np.ndarray) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "views.npz")
        np.savez(path, x=X, y=Y)
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", path], capture_output=True, text=True, check=True
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(data: Path) -> dict:
    (x_tr, y_tr, _), (x_val, y_val, _), _ = load_noisy_mnist(data, n_train=50_000, n_val=10_000)
    X10, Y10 = x_tr[:10_000], y_tr[:10_000]
    ours_s, ours = best_fit_time(lambda: CCA(N_COMPONENTS), X10, Y10, repeats=5)
    sk_s, sk = best_fit_time(lambda: SklearnCCA(N_COMPONENTS), X10, Y10, repeats=1)
    big_s, _ = best_fit_time(lambda: CCA(N_COMPONENTS), x_tr, y_tr, repeats=1)
    memory = measure_memory(x_tr, y_tr)
    return {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "n_components": N_COMPONENTS,
        "n10k": {
            "polymodal_fit_s": ours_s,
            "sklearn_fit_s": sk_s,
            "speedup": sk_s / ours_s,
            "polymodal_train_corr_sum": corr_sum(ours, X10, Y10),
            "sklearn_train_corr_sum": corr_sum(sk, X10, Y10),
            "polymodal_heldout_corr_sum": corr_sum(ours, x_val, y_val),
            "sklearn_heldout_corr_sum": corr_sum(sk, x_val, y_val),
        },
        "n50k": {"polymodal_fit_s": big_s},
        "memory_50k": {**memory, "peak_over_data": memory["fit_peak_traced_bytes"] / memory["data_bytes"]},
    }


def to_markdown(r: dict) -> str:
    a, m = r["n10k"], r["memory_50k"]
    mb = 2.0**20
    return "\n".join(
        [
            "# CCA speed: polymodal (closed form) vs scikit-learn (iterative)",
            "",
            f"Noisy two-view MNIST, 784 pixels per view (float32), {r['n_components']} components, "
            f"{r['machine']['cpus']} CPUs ({r['machine']['platform']}). Written by `benchmarks/cca_speed.py`.",
            "",
            "| data (per view) | method | fit time (s) | sum of 10 corr. (train) | sum (held-out 10k) |",
            "|---|---|---:|---:|---:|",
            f"| 10,000 x 784 | polymodal CCA | {a['polymodal_fit_s']:.3f} | {a['polymodal_train_corr_sum']:.4f} "
            f"| {a['polymodal_heldout_corr_sum']:.4f} |",
            f"| 10,000 x 784 | sklearn CCA | {a['sklearn_fit_s']:.2f} | {a['sklearn_train_corr_sum']:.4f} "
            f"| {a['sklearn_heldout_corr_sum']:.4f} |",
            f"| 50,000 x 784 | polymodal CCA | {r['n50k']['polymodal_fit_s']:.3f} | | |",
            "",
            f"Speed-up at 10,000 samples: **{a['speedup']:.0f}x**.",
            "",
            f"Memory of a 50,000 x 784 fit (fresh subprocess, tracemalloc): data {m['data_bytes'] / mb:.0f} MiB, "
            f"peak allocated during fit {m['fit_peak_traced_bytes'] / mb:.1f} MiB "
            f"(**{m['peak_over_data']:.3f}x the data**); process max RSS {m['max_rss_bytes_before_fit'] / mb:.0f} "
            f"MiB before the fit, {m['max_rss_bytes_after_fit'] / mb:.0f} MiB after.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_path(), help="the shared data folder")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    results = run(args.data)
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS / "cca_speed.json", json.dumps(results, indent=2) + "\n")
    markdown = to_markdown(results)
    atomic_write_text(RESULTS / "cca_speed.md", markdown)
    write_benchmarks_doc(RESULTS, RESULTS.parent.parent / "docs" / "benchmarks.md")
    print(markdown)


if __name__ == "__main__":
    main()
