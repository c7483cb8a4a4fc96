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

While the steps run, a progress line on standard error shows the step being
run and for how long; it is drawn only when standard error is a terminal and
``--quiet`` is not given.  It follows the session's log records ("step NAME
...") through :class:`ConsoleHandler`, so the session knows nothing of it.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from multidrizzle.errors import MultidrizzleError, ParameterError

log = logging.getLogger("multidrizzle")

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
                        help="no progress line, and log only warnings (unless "
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
    from multidrizzle.parameters import (
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
    from multidrizzle.parameters import DrizzleParameters

    return {name: DrizzleParameters.parameter_trait(name).check(value)
            for name, value in values.items()}


# --------------------------------------------------------------------------
# Progress line
# --------------------------------------------------------------------------


class ProgressLine:
    """A one-line progress bar of the steps of a run, redrawn in place.

    ``[#######.................] 3/8 driz_separate  4.2 s``, updated every
    half second by a background thread while a step runs.

    Parameters
    ----------
    stream : file
        Where to draw (standard error).
    total : int
        Number of steps expected.
    width : int
        Characters of the bar itself.
    """

    def __init__(self, stream: IO[str], total: int, width: int = 24) -> None:
        self.stream = stream
        self.total = max(1, total)
        self.width = width
        self.done = 0
        self.label = ""
        self.started = time.perf_counter()
        self.lock = threading.RLock()
        self._shown = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="multidrizzle-progress",
                                        daemon=True)
        self._thread.start()

    def text(self) -> str:
        """The line as it is drawn now."""
        filled = int(round(self.width * min(self.done, self.total) / self.total))
        bar = "#" * filled + "." * (self.width - filled)
        seconds = time.perf_counter() - self.started
        return f"[{bar}] {self.done}/{self.total} {self.label}  {seconds:.1f} s"

    def advance(self, label: str) -> None:
        """A new step starts: count the previous one done and show ``label``."""
        with self.lock:
            if self.label:
                self.done += 1
            self.label = label
            self.started = time.perf_counter()
            self.draw()

    def draw(self) -> None:
        with self.lock:
            line = self.text()
            self.stream.write("\r" + line + " " * max(0, self._shown - len(line)))
            self.stream.flush()
            self._shown = len(line)

    def clear(self) -> None:
        """Remove the line (before a log message is written, or at the end)."""
        with self.lock:
            if self._shown:
                self.stream.write("\r" + " " * self._shown + "\r")
                self.stream.flush()
                self._shown = 0

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.clear()

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            with self.lock:
                if self._shown:
                    self.draw()


class ConsoleHandler(logging.StreamHandler):
    """Writes log records above ``display_level`` and keeps a progress line under them.

    Each record ``"step %s ..."`` logged by the session when a step starts
    moves the progress line on; every other record is written above it.
    """

    def __init__(self, stream: IO[str], display_level: int,
                 progress: ProgressLine | None = None) -> None:
        super().__init__(stream)
        self.display_level = display_level
        self.progress = progress
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if self.progress is None:
            if record.levelno >= self.display_level:
                super().emit(record)
            return
        with self.progress.lock:
            self.progress.clear()
            if record.levelno >= self.display_level:
                super().emit(record)
            if record.msg == "step %s ..." and record.args:
                self.progress.advance(str(record.args[0]))
            elif self.progress.label:
                self.progress.draw()


class _Console:
    """Set up the package logger (and a progress line) for one command."""

    def __init__(self, quiet: bool, log_level: str | None,
                 stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        level_name = log_level or ("WARNING" if quiet else "INFO")
        display_level = getattr(logging, level_name)
        show_progress = not quiet and _is_terminal(self.stream)
        self.progress = ProgressLine(self.stream, 1) if show_progress else None
        self.handler = ConsoleHandler(self.stream, display_level, self.progress)
        self._saved = (log.level, log.propagate)
        log.addHandler(self.handler)
        log.propagate = False
        # the progress line follows INFO records even when fewer are displayed
        log.setLevel(min(display_level, logging.INFO) if self.progress else display_level)

    def expect(self, more_steps: int) -> None:
        """Set the total to the steps started so far plus ``more_steps``."""
        if self.progress is not None:
            started = self.progress.done + (1 if self.progress.label else 0)
            self.progress.total = max(1, started + more_steps)

    def step(self, label: str) -> None:
        if self.progress is not None:
            self.progress.advance(label)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.close()
        log.removeHandler(self.handler)
        log.setLevel(self._saved[0])
        log.propagate = self._saved[1]


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


# --------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------


def _steps_switched_on(session) -> list[str]:
    from multidrizzle.session import _SWITCH_PARAMETER

    return [step for step, parameter in _SWITCH_PARAMETER.items()
            if getattr(session, parameter)]


def _process(session, console: _Console) -> None:
    """build() and run() a session, then print its products and step table."""
    console.expect(1 + len(_steps_switched_on(session)))
    console.step("build")
    session.build()  # logs its summary
    session.run()    # logs the step table
    if console.progress is not None:
        console.progress.done = console.progress.total
        console.progress.close()
    print("products:")
    for path in session.products:
        print(f"  {path}")
    print(session.step_table())


def run_demo(folder: Path, n_exposures: int, full_size: bool, seed: int,
             console: _Console | None = None) -> int:
    """Write the demo data (or reuse it), process it and print where the products are."""
    from multidrizzle import datasets
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
    finally:
        if own_console:
            console.close()
    return 0


def run_input(arguments: argparse.Namespace, values: dict[str, Any],
              console: _Console) -> int:
    """``multidrizzle INPUT ...``: build and run a session from the command line."""
    from multidrizzle.parameters import load_pars
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
    run fails (unreadable input, ...); errors are one line on standard error.
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
        console = _Console(arguments.quiet, arguments.log_level)
        return run_input(arguments, values, console)
    except SystemExit as exit_request:  # --help, --version and usage errors
        return exit_request.code if isinstance(exit_request.code, int) else 0
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
    from multidrizzle.parameters import describe, help_text

    if parameter:
        print(describe(parameter.replace("-", "_")))
    else:
        print("Command line:\n    " + USAGE.replace("\n       ", "\n    ") + "\n")
        print(help_text())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
