"""Command line: ``multidrizzle demo`` and ``multidrizzle help [PARAM]``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from multidrizzle.errors import MultidrizzleError

log = logging.getLogger("multidrizzle")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="multidrizzle",
        description="Combine dithered HST exposures into one distortion-free, "
                    "cosmic-ray-clean image (MultiDrizzle session workflow).")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="how much to log (default INFO)")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="write the built-in demo data set and "
                                            "process it")
    demo.add_argument("--folder", type=Path, default=Path("multidrizzle_demo"),
                      help="where to write the demo data and products "
                           "(default ./multidrizzle_demo)")
    demo.add_argument("--n-exposures", type=int, default=4,
                      help="number of dithered exposures (default 4)")
    demo.add_argument("--full-size", action="store_true",
                      help="full 2 x 4096 x 2051 chips instead of small ones")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    help_command = commands.add_parser("help", help="print the syntax and parameter "
                                                    "table, or one parameter's help")
    help_command.add_argument("parameter", nargs="?", help="a parameter name")
    return parser


def run_demo(folder: Path, n_exposures: int, full_size: bool, seed: int) -> int:
    """Write the demo data (or reuse it), process it and print where the products are."""
    from multidrizzle import datasets
    from multidrizzle.session import Multidrizzle

    inputs = folder / "inputs.lst"
    if inputs.exists():
        log.info("reusing the demo data in %s", folder)
    else:
        shape = datasets.FULL_CHIP_SHAPE if full_size else None
        kwargs = {"chip_shape": shape} if shape else {}
        datasets.make_demo_dataset(folder, n_exposures=n_exposures, seed=seed, **kwargs)
        log.info("wrote %d demo exposures to %s", n_exposures, folder)
    session = Multidrizzle(f"@{inputs}", output=str(folder / "demo"),
                           runfile=str(folder / "demo.log"))
    session.build()  # logs its summary
    session.run()    # logs the step table
    print("products:")
    for path in session.products:
        print(f"  {path}")
    print(session.step_table())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``multidrizzle`` command."""
    arguments = _parser().parse_args(argv)
    logging.basicConfig(level=arguments.log_level, format="%(levelname)s %(message)s")
    try:
        if arguments.command == "demo":
            return run_demo(arguments.folder, arguments.n_exposures, arguments.full_size,
                            arguments.seed)
        from multidrizzle.parameters import describe, help_text

        print(describe(arguments.parameter) if arguments.parameter else help_text())
        return 0
    except MultidrizzleError as error:
        print(f"multidrizzle: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
