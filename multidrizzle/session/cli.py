"""The ``multidrizzle`` command.

::

    multidrizzle INPUT [--output NAME] [--config FILE] [--PARAM VALUE ...] [--no-STEP ...]
                       [--quiet] [--log-level LEVEL]
    multidrizzle demo [--folder DIR] [--n-exposures N] [--full-size] [--seed N]
    multidrizzle help [PARAM]

Any parameter is given as ``--name value``, ``--name=value`` or with dashes
(``--final-pixfrac 0.8``); a boolean as ``--driz_cr no`` or alone
(``--driz_cr`` means yes), and ``--no-NAME`` switches any boolean off, such
as the step switches (``--no-driz_cr``).  Values are checked by the
parameter's trait before anything is read; a bad one exits with status 2 and
one line naming the parameter and what is allowed.

While the steps run, progress bars on standard error show the step being
run and, in long steps, the chips done (:class:`multidrizzle.session.console.Console`,
the same display a Python session uses, fed by the steps' progress callbacks);
they are drawn only when standard error is a terminal (``--verbose always``:
in any case) and ``--quiet`` is not given.  Log messages at ``--log-level``
(INFO by default, WARNING with ``--quiet``) are printed above the bars.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import IO, Any

from multidrizzle.session.console import Console
from multidrizzle.errors import MultidrizzleError, ParameterError
from multidrizzle.io.runlog import PACKAGE_LOGGER

log = logging.getLogger(__name__)

USAGE = """\
multidrizzle INPUT [--output NAME] [--config FILE] [--PARAM VALUE ...] [--no-STEP ...]
                          [--quiet] [--log-level LEVEL]
       multidrizzle demo [--folder DIR] [--n-exposures N] [--full-size] [--seed N]
       multidrizzle help [PARAM]"""

_DESCRIPTION = """\
Combine dithered HST exposures into one distortion-free, cosmic-ray-clean image
(the MultiDrizzle session workflow, with AstroDrizzle's parameters).

multidrizzle INPUT ... reads INPUT (a file, a quoted wildcard such as '*flc.fits',
a comma-separated list, an @file list or an association table), builds the output
grid, runs every step switched on and prints the products and a table of the steps.
Input files are never changed unless --workinplace yes is given."""

_EPILOG = """\
parameters:
  Every parameter of `multidrizzle help` may be given, with its AstroDrizzle name:
    --final_pixfrac 0.8   --final-pixfrac=0.8   --driz_cr_snr "3.5 3.0"
    --final_bits 4+8      --build yes           --final_rot -30
  booleans:  --driz_cr no  |  --driz_cr  (= yes)  |  --no-driz_cr  (= no)
  values are checked before anything is read; a bad one exits with status 2.
  --config FILE (or --configobj FILE) reads a parameter file first: one written by
  md.save_pars(), or drizzlepac's astrodrizzle.cfg format unchanged; options given
  on the command line override it, and INPUT may be left to its 'input'.

output:
  progress bars on standard error when it is a terminal (--verbose always: on any
  stream; --quiet: never), messages at --log-level above them; every INFO message
  also goes to --runfile (a new file per run, the previous one kept as FILE.1).

step switches:
  --no-static  --no-skysub  --no-driz_separate  --no-median  --no-blot
  --no-driz_cr  --no-driz_combine

other commands:
  multidrizzle demo         write the built-in demo data set and process it
  multidrizzle help         the parameter table (types, defaults, allowed values)
  multidrizzle help PARAM   the full help of one parameter, e.g. help final_pixfrac

examples:
  multidrizzle '*flc.fits' --output m51 --final_scale 0.04 --final_pixfrac 0.8
  multidrizzle @inputs.lst --config my.cfg --no-driz_cr --quiet"""

#: Options of the command itself; every other ``--name`` must be a parameter.
_OWN_OPTIONS_WITH_VALUE = {"output", "config", "configobj", "log_level"}
_OWN_FLAGS = {"help", "quiet", "version"}
_LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (and status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"multidrizzle: error: {message} (see multidrizzle --help)\n")


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars, and log only warnings (unless "
                             "--log-level says otherwise)")
    parser.add_argument("--log-level", choices=_LOG_LEVELS, default=None,
                        help="how much to log: DEBUG, INFO (default), WARNING or ERROR")


def _run_parser() -> argparse.ArgumentParser:
    from multidrizzle import __version__

    parser = _Parser(prog="multidrizzle", usage=USAGE, description=_DESCRIPTION,
                     epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", metavar="INPUT", nargs="?",
                        help="the exposures: file, wildcard, comma list, @file or *_asn.fits")
    parser.add_argument("-o", "--output", metavar="NAME",
                        help="root name of the products (default: from the inputs)")
    parser.add_argument("--config", "--configobj", dest="config", metavar="FILE",
                        type=Path, help="parameter file read before the options (ours, "
                                        "or drizzlepac's astrodrizzle.cfg format)")
    _add_output_options(parser)
    parser.add_argument("--version", action="version", version=f"multidrizzle {__version__}")
    return parser


def _demo_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="multidrizzle demo",
                     description="Write the built-in demo data set (a dithered "
                                 "WFC3/UVIS-like set with cosmic rays) and process it.")
    parser.add_argument("--folder", type=Path, default=Path("multidrizzle_demo"),
                        help="where to write the demo data and products "
                             "(default ./multidrizzle_demo)")
    parser.add_argument("--n-exposures", type=int, default=4,
                        help="number of dithered exposures (default 4)")
    parser.add_argument("--full-size", action="store_true",
                        help="full 2 x 4096 x 2051 chips instead of small ones")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    _add_output_options(parser)
    return parser


def _help_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="multidrizzle help",
                     description="Print the parameter table, or the full help of one "
                                 "parameter.")
    parser.add_argument("parameter", nargs="?", help="a parameter name, e.g. final_pixfrac")
    _add_output_options(parser)
    return parser


# --------------------------------------------------------------------------
# Parameters on the command line
# --------------------------------------------------------------------------

_BOOLEAN_WORDS = {"true", "false", "yes", "no", "y", "n", "t", "f", "on", "off", "1", "0"}


def split_parameters(argv: list[str]) -> tuple[list[str], dict[str, str | bool]]:
    """Take the ``--PARAM VALUE`` options out of ``argv``.

    Parameters
    ----------
    argv : list of str
        The command line after the program name.

    Returns
    -------
    rest : list of str
        The tokens for the command's own parser (INPUT, --output, ...).
    values : dict
        Parameter name (canonical, underscores) to its text as typed, or a
        bool for ``--FLAG`` and ``--no-FLAG``; later options win.

    Raises
    ------
    ParameterError
        For an option that is neither the command's nor a parameter (with
        the closest names), or a parameter given without a value.
    """
    from multidrizzle.session.parameters import (
        DrizzleParameters, Flag, _unknown_parameter_message, canonical_name,
    )

    traits = DrizzleParameters.parameter_traits()
    rest: list[str] = []
    values: dict[str, str | bool] = {}
    tokens = list(argv)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if token == "--":
            rest += tokens[index - 1:]
            break
        if not token.startswith("--"):
            rest.append(token)
            continue
        option, has_value, inline = token[2:].partition("=")
        key = option.replace("-", "_")
        if key in _OWN_FLAGS or key in _OWN_OPTIONS_WITH_VALUE:
            rest.append(token)
            if key in _OWN_OPTIONS_WITH_VALUE and not has_value and index < len(tokens):
                rest.append(tokens[index])
                index += 1
            continue
        negated = key.startswith("no_") and canonical_name(key[3:]) in traits
        name = canonical_name(key[3:] if negated else key)
        if name not in traits:
            known = {**traits, **{own: None for own in _OWN_OPTIONS_WITH_VALUE | _OWN_FLAGS}}
            raise ParameterError(f"option --{option}: {_unknown_parameter_message(key, known)}")
        trait = traits[name]
        if negated:
            if not isinstance(trait, Flag):
                raise ParameterError(f"option --{option}: parameter {name!r} is not a boolean; "
                                     f"give a value with --{name} VALUE")
            if has_value:
                raise ParameterError(f"option --{option} takes no value")
            values[name] = False
        elif has_value:
            values[name] = inline
        elif isinstance(trait, Flag):
            following = tokens[index] if index < len(tokens) else None
            words = _BOOLEAN_WORDS | set(getattr(trait, "true_words", ()))
            if following is not None and following.lower() in words:
                values[name] = following
                index += 1
            else:
                values[name] = True
        elif index < len(tokens):
            values[name] = tokens[index]  # may start with '-': --final_rot -30
            index += 1
        else:
            raise ParameterError(f"option --{option}: parameter {name!r} needs a value "
                                 f"({trait.allowed_text()})")
    return rest, values


def check_values(values: dict[str, Any]) -> dict[str, Any]:
    """Convert command-line values with each parameter's trait (ParameterError if bad)."""
    from multidrizzle.session.parameters import DrizzleParameters

    return {name: DrizzleParameters.parameter_trait(name).check(value)
            for name, value in values.items()}


# --------------------------------------------------------------------------
# Console
# --------------------------------------------------------------------------


class _Console:
    """The command's display: messages at the chosen level, and progress bars.

    The command owns the package logger while it runs: its level is the
    level shown (so that nothing below it is even formatted) and it does not
    propagate (nothing is shown twice); both are restored by :meth:`close`.
    The run log (``runfile``) still gets every INFO message: the session
    lowers the level for the run.

    Parameters
    ----------
    quiet : bool
        No progress bars, and only warnings unless ``log_level`` says otherwise.
    log_level : str or None
        'DEBUG', 'INFO', 'WARNING' or 'ERROR'; None: INFO (WARNING if quiet).
    stream : file, optional
        Where to draw; None: standard error.
    verbose : bool or 'always'
        The ``verbose`` parameter given on the command line: 'always' draws
        the bars when standard error is not a terminal.
    """

    def __init__(self, quiet: bool, log_level: str | None, stream: IO[str] | None = None,
                 verbose: bool | str = True) -> None:
        level = getattr(logging, log_level or ("WARNING" if quiet else "INFO"))
        self.console = Console(False if quiet else verbose, level=level, stream=stream,
                               only_unhandled=False)
        package_logger = logging.getLogger(PACKAGE_LOGGER)
        self._saved = (package_logger.level, package_logger.propagate)
        package_logger.setLevel(level)
        package_logger.propagate = False
        self.console.open()

    def step(self, label: str) -> None:
        """A part of the command that is not a session's (writing the demo data)."""
        self.console.begin(label, [label])
        self.console.step(label)

    def close(self) -> None:
        self.console.close()
        package_logger = logging.getLogger(PACKAGE_LOGGER)
        package_logger.setLevel(self._saved[0])
        package_logger.propagate = self._saved[1]


# --------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------


def _process(session, console: _Console) -> None:
    """build() and run() a session, then print its products and step table."""
    session.console = console.console  # the command's display, not one per call
    try:
        session.build()  # logs its summary
        session.run()    # logs the step table
    finally:
        session.console = None
    print("products:")
    for path in session.products:
        print(f"  {path}")
    print(session.step_table())
    if session.final_has_valid_pixel is False:
        raise EmptyProductError(
            f"the product {session.products[0]} was written but has no valid pixel "
            "(weight 0 everywhere): every input pixel was masked by its DQ bits (see "
            "final_bits), the static mask or the cosmic-ray masks")


class EmptyProductError(MultidrizzleError):
    """The run finished but its product holds no measurement (exit status 1)."""


def _what_to_open(products: list[Path]) -> str:
    """One line naming the product to open and the images in it."""
    from astropy.io import fits

    with fits.open(products[0]) as hdul:
        contents = [hdu.name if hdu.name != "PRIMARY" else "image" for hdu in hdul
                    if hdu.name != "PRIMARY" or hdu.data is not None]
        unit = (hdul["SCI"] if "SCI" in hdul else hdul[0]).header.get("BUNIT", "")
    line = f"open {products[0]}: {', '.join(contents)} (science in {unit})"
    if len(products) > 1:
        line += "; the other images in " + ", ".join(p.name for p in products[1:])
    return line


def run_demo(folder: Path, n_exposures: int, full_size: bool, seed: int,
             console: _Console | None = None) -> int:
    """Write the demo data (or reuse it), process it and say what came out.

    Ends with the product to open, what is in it, and three lines comparing
    the run with the demo's ground truth (:func:`multidrizzle.demo.scoring.score_run`):
    cosmic rays found, star fluxes, sky.
    """
    from multidrizzle.demo import datasets
    from multidrizzle.demo.scoring import score_run
    from multidrizzle.session import Multidrizzle

    own_console = console is None
    console = console or _Console(quiet=True, log_level="INFO")
    try:
        inputs = folder / "inputs.lst"
        if inputs.exists():
            log.info("reusing the demo data in %s", folder)
        else:
            console.step("demo data")
            shape = datasets.FULL_CHIP_SHAPE if full_size else None
            kwargs = {"chip_shape": shape} if shape else {}
            datasets.make_demo_dataset(folder, n_exposures=n_exposures, seed=seed, **kwargs)
            log.info("wrote %d demo exposures to %s", n_exposures, folder)
        session = Multidrizzle(f"@{inputs}", output=str(folder / "demo"),
                               runfile=str(folder / "demo.log"))
        _process(session, console)
        score = score_run(session, datasets.load_demo_truth(folder))
        print(_what_to_open(session.products))
        print("compared with the demo's ground truth:")
        for line in score.lines():
            print(f"  {line}")
    finally:
        if own_console:
            console.close()
    return 0


def run_input(arguments: argparse.Namespace, values: dict[str, Any],
              console: _Console) -> int:
    """``multidrizzle INPUT ...``: build and run a session from the command line."""
    from multidrizzle.session.parameters import load_pars
    from multidrizzle.session import Multidrizzle

    input_value = values.pop("input", None)
    if arguments.input is not None:
        if input_value is not None:
            raise ParameterError("INPUT is given twice: as an argument and with --input")
        input_value = arguments.input
    # a parameter file may name the inputs (drizzlepac's files all do)
    if input_value is None and (arguments.config is None
                                or "input" not in load_pars(arguments.config)):
        raise ParameterError("INPUT is missing: give the exposures, e.g. multidrizzle "
                             "'*flc.fits' (see multidrizzle --help)")
    if arguments.output is not None:
        values["output"] = arguments.output
    session = Multidrizzle(input_value, configobj=arguments.config, **values)
    _process(session, console)
    return 0


def _command_of(argv: list[str]) -> str | None:
    """'demo' or 'help' when it is the first token after the output options."""
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == "--log-level":
            index += 2
        elif token in ("-q", "--quiet") or token.startswith("--log-level="):
            index += 1
        else:
            return token if token in ("demo", "help") else None
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``multidrizzle`` command; returns the exit status.

    0 on success, 2 for a bad command line or parameter value, 1 when the
    run fails (unreadable input, ...) or its product has no valid pixel, 130
    when interrupted by Ctrl-C (143 by SIGTERM); errors are one line on
    standard error.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_of(argv)
    console = None
    try:
        if command is not None:
            position = argv.index(command)
            argv = argv[:position] + argv[position + 1:]
            parser = _demo_parser() if command == "demo" else _help_parser()
            arguments = parser.parse_args(argv)
            if command == "help":
                return _print_help(arguments.parameter)
            console = _Console(arguments.quiet, arguments.log_level)
            return run_demo(arguments.folder, arguments.n_exposures, arguments.full_size,
                            arguments.seed, console)
        rest, raw_values = split_parameters(argv)
        arguments = _run_parser().parse_args(rest)
        values = check_values(raw_values)
        console = _Console(arguments.quiet, arguments.log_level,
                           verbose=values.get("verbose", True))
        return run_input(arguments, values, console)
    except SystemExit as exit_request:  # --help, --version and usage errors
        return exit_request.code if isinstance(exit_request.code, int) else 0
    except KeyboardInterrupt as interruption:  # Ctrl-C, or SIGTERM during a run
        # every temporary file is gone by now, and the earlier products, if any,
        # are as they were (or, without their manifest, marked incomplete)
        print("multidrizzle: interrupted; no products written", file=sys.stderr)
        return 128 + getattr(interruption, "signal_number", signal.SIGINT)
    except ParameterError as error:
        _print_error(error)
        return 2
    except (MultidrizzleError, OSError) as error:
        _print_error(error)
        return 1
    finally:
        if console is not None:
            console.close()


def _print_error(error: BaseException) -> None:
    message = " ".join(str(error).split("\n"))
    print(f"multidrizzle: error: {message}", file=sys.stderr)


def _print_help(parameter: str | None) -> int:
    from multidrizzle.session.parameters import describe, help_text

    if parameter:
        print(describe(parameter.replace("-", "_")))
    else:
        print("Command line:\n    " + USAGE.replace("\n       ", "\n    ") + "\n")
        print(help_text())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
