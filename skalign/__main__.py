"""``python -m skalign``: run skalign's estimators on bundled data and print metrics."""

import argparse
import importlib
import importlib.util
import sys
import time

# name -> (module with run_demo(seed), one-line description)
DEMOS = {
    "core": ("skalign._core_demo", "entropic OT core on a bundled point-cloud pair"),
    "gw": ("skalign.alignment._demo", "GWEmbeddingAligner on bundled SNARE-seq"),
    "da": ("skalign.adaptation._demo", "AdaptiveOTDomainAdapter, partial DA"),
    "active": ("skalign.active._demo", "ActiveOTQuerier, active network alignment"),
}


def _available_demos():
    names = []
    for name, (module, _) in DEMOS.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            names.append(name)
    return names


def main(argv=None):
    """Entry point of ``python -m skalign`` and of the ``skalign`` console script."""
    available = _available_demos()
    parser = argparse.ArgumentParser(
        prog="skalign",
        description=(
            "Run skalign's optimal-transport aligners on bundled data and print what "
            "they found. Demos: "
            + "; ".join(f"{name}: {DEMOS[name][1]}" for name in available)
        ),
    )
    parser.add_argument(
        "demos",
        nargs="*",
        choices=[*available, []],
        help="demos to run (default: all of them)",
        metavar="DEMO",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    for name in args.demos or available:
        module = importlib.import_module(DEMOS[name][0])
        print(f"\n=== {name}: {DEMOS[name][1]} ===", flush=True)
        start = time.perf_counter()
        module.run_demo(seed=args.seed)
        print(f"[{name} done in {time.perf_counter() - start:.1f} s]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
