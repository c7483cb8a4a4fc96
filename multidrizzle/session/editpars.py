"""Interactive parameter editing: a widget form in Jupyter, ``$EDITOR`` in a terminal.

:func:`edit_parameters` (what ``md.editpars()`` calls) picks the interface:

* in a Jupyter kernel, a :class:`ParameterForm` built from the parameter
  traits, one section per step, each parameter with its help, its allowed
  values (drop-downs for fixed choices), invalid values refused as they are
  typed with the reason, and *Apply* / *Cancel* buttons;
* in a terminal, :func:`edit_in_editor` writes the parameters with
  :func:`~multidrizzle.session.parameters.save_pars` to a temporary file, opens it in
  ``$VISUAL`` / ``$EDITOR`` (``vi`` if neither is set), checks it when the
  editor exits and reopens it with the errors on top until it is valid or
  abandoned;
* otherwise it raises :class:`EditorUnavailableError` saying how to set
  parameters instead.

Values go through the same conversion as everywhere else: the text a user
types is read like a parameter-file value and checked by the parameter's
trait (:meth:`~multidrizzle.session.parameters.ParameterTrait.check`), so a value the
form or the editor accepts is exactly a value ``md.name = value`` accepts.
"""

from __future__ import annotations

import html
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multidrizzle.errors import MultidrizzleError, ParameterError
from multidrizzle.session.parameters import (
    STEP_TITLES, Choice, DrizzleParameters, Flag, _ASSIGNMENT_LINE, _SECTION_LINE,
    _parse_file_value, _unknown_parameter_message, canonical_name, format_parameter_value,
    load_pars, reference_grid_file, save_pars, STEPS,
)

if TYPE_CHECKING:  # pragma: no cover
    from multidrizzle.session import Multidrizzle

__all__ = ["EditorUnavailableError", "ParameterForm", "edit_parameters", "edit_in_editor",
           "in_jupyter", "in_terminal", "parse_text_value", "display_text"]

log = logging.getLogger(__name__)

#: Marks the lines that :func:`edit_in_editor` puts on top of a rejected file.
ERROR_MARK = "#!"

_HOW_TO_SET = ("set parameters as attributes (md.final_scale = 0.05), pass them to "
               "Multidrizzle(input, final_scale=0.05), or edit a file written by "
               "md.save_pars(path) and load it with Multidrizzle(input, configobj=path)")


class EditorUnavailableError(MultidrizzleError, RuntimeError):
    """No Jupyter kernel and no terminal (or no editor) to edit the parameters in."""


# --------------------------------------------------------------------------
# Where are we?
# --------------------------------------------------------------------------


def in_jupyter() -> bool:
    """True inside a Jupyter (IPython) kernel, where widgets can be shown."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - ipykernel needs IPython
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def in_terminal() -> bool:
    """True when standard input and output are both a terminal."""
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def edit_parameters(session: "Multidrizzle", interface: str | None = None) -> Any:
    """Edit a session's parameters with the interface this process can show.

    Parameters
    ----------
    session : Multidrizzle
        The session whose parameters are edited.
    interface : {None, 'widgets', 'editor'}
        None picks the widget form in Jupyter, the editor in a terminal.

    Returns
    -------
    ParameterForm or dict or None
        The displayed form (Jupyter: the session changes when *Apply* is
        pressed); or the parameters changed in the editor (None when the
        edit was abandoned).

    Raises
    ------
    EditorUnavailableError
        Neither a Jupyter kernel nor a terminal; the message says how to set
        parameters instead.
    """
    if interface not in (None, "widgets", "editor"):
        raise ParameterError(f"editpars(): interface {interface!r} is not allowed; expected "
                             "None, 'widgets' or 'editor'")
    if interface == "widgets" or (interface is None and in_jupyter()):
        form = ParameterForm(session)
        form.display()
        return form
    if interface == "editor" or (interface is None and in_terminal()):
        return edit_in_editor(session)
    raise EditorUnavailableError(
        "editpars(): there is neither a Jupyter kernel (for the widget form) nor a "
        f"terminal (for $EDITOR) in this process; {_HOW_TO_SET}")


# --------------------------------------------------------------------------
# Values as text
# --------------------------------------------------------------------------


def display_text(value: Any) -> str:
    """A stored value as the text shown in a form field ('' stays empty)."""
    if value == "" and isinstance(value, str):
        return ""
    return format_parameter_value(value)


def parse_text_value(name: str, text: str,
                     parameters_class: type[DrizzleParameters] = DrizzleParameters) -> Any:
    """Convert what a user typed for parameter ``name`` to its stored value.

    The text is read as in a parameter file (``None``, numbers, quoted text,
    lists) and then checked by the parameter's trait.

    Raises
    ------
    ParameterError
        Naming the parameter, the value and what is allowed.
    """
    trait = parameters_class.parameter_trait(canonical_name(name))
    return trait.check(_parse_file_value(text) if isinstance(text, str) else text)


def _editable_names(parameters_class: type[DrizzleParameters]) -> dict[str, list[str]]:
    """Parameter names by step, without aliases (``gnkeyword`` mirrors ``gainkeyword``)."""
    traits = parameters_class.parameter_traits()
    return {step: [n for n in names if "alias_of" not in traits[n].metadata]
            for step, names in parameters_class.steps().items()}


def _consistency_problem(session: DrizzleParameters, values: dict[str, Any]) -> str | None:
    """The cross-parameter rule ``values`` would break, or None (checked on a copy)."""
    parameters_class = DrizzleParameters
    current = {name: getattr(session, name)
               for names in _editable_names(parameters_class).values() for name in names}
    current.update(values)
    scratch = parameters_class()
    previous = logging.getLogger("multidrizzle").level
    try:
        scratch.update(current)
        logging.getLogger("multidrizzle").setLevel(logging.WARNING)  # notes come on apply
        scratch.check_consistency()
    except ParameterError as error:
        return str(error)
    finally:
        logging.getLogger("multidrizzle").setLevel(previous)
    return None


def _apply(session: DrizzleParameters, values: dict[str, Any]) -> dict[str, Any]:
    """Set the values that differ from the session's; return those."""
    changed = {name: value for name, value in values.items()
               if getattr(session, name) != value}
    session.update(changed)
    if changed:
        log.info("editpars: changed %s", ", ".join(f"{n}={format_parameter_value(v)}"
                                                   for n, v in changed.items()))
    return changed


# --------------------------------------------------------------------------
# Jupyter: the widget form
# --------------------------------------------------------------------------


class ParameterForm:
    """An ipywidgets form of every parameter of a session, grouped by step.

    Each step is a section of an accordion.  Fixed choices are drop-downs,
    booleans check boxes, everything else a text field read as in a
    parameter file.  A value is checked as soon as it changes: a bad one is
    refused on the spot, its reason shown under the field and kept in
    :attr:`errors`.  Nothing reaches the session until :meth:`apply`.

    Parameters
    ----------
    session : Multidrizzle or DrizzleParameters
        The parameters to edit.

    Attributes
    ----------
    widgets : dict
        Parameter name to its input widget; set ``form.widgets[name].value``
        to drive the form from code.
    errors : dict
        Parameter name to the reason its current text is refused.
    pending : dict
        Parameter name to the accepted new value, not applied yet.
    status : ipywidgets.HTML
        The message line under the buttons.
    container : ipywidgets.VBox
        The whole form (what :meth:`display` shows).

    Examples
    --------
    >>> form = ParameterForm(md)                     # doctest: +SKIP
    >>> form.widgets["final_pixfrac"].value = "0.8"  # doctest: +SKIP
    >>> form.apply()                                 # doctest: +SKIP
    {'final_pixfrac': 0.8}
    """

    def __init__(self, session: DrizzleParameters) -> None:
        try:
            import ipywidgets as widgets
        except ImportError as error:  # pragma: no cover - depends on the install
            raise EditorUnavailableError(
                "editpars(): the widget form needs ipywidgets (pip install ipywidgets); "
                f"or {_HOW_TO_SET}") from error
        self._ui = widgets
        self.session = session
        self.parameters_class = type(session)
        self.traits = self.parameters_class.parameter_traits()
        self.widgets: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self.pending: dict[str, Any] = {}
        self._error_labels: dict[str, Any] = {}
        self._refreshing = False
        sections, titles = [], []
        for step, names in _editable_names(self.parameters_class).items():
            if not names:
                continue
            sections.append(widgets.VBox([self._row(name) for name in names]))
            titles.append(f"{STEP_TITLES[step]} ({len(names)})")
        self.sections = widgets.Accordion(children=sections, titles=tuple(titles))
        self.apply_button = widgets.Button(description="Apply", button_style="success",
                                           tooltip="set the accepted values on the session")
        self.cancel_button = widgets.Button(description="Cancel",
                                            tooltip="forget the changes not applied")
        self.apply_button.on_click(lambda _: self.apply())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.status = widgets.HTML(value="")
        self.container = widgets.VBox([
            widgets.HTML("<b>multidrizzle parameters</b>: changes are checked as you type "
                         "and reach the session only on <i>Apply</i>."),
            self.sections, widgets.HBox([self.apply_button, self.cancel_button]),
            self.status])

    # -- building -------------------------------------------------------

    def _input_widget(self, name: str) -> Any:
        widgets, trait = self._ui, self.traits[name]
        value = getattr(self.session, name)
        layout = widgets.Layout(width="300px")
        if isinstance(trait, Choice):
            return widgets.Dropdown(options=list(trait.choices), value=value, layout=layout)
        if isinstance(trait, Flag):
            return widgets.Checkbox(value=bool(value), indent=False, layout=layout)
        return widgets.Text(value=display_text(value), continuous_update=False, layout=layout,
                            placeholder=trait.type_label)

    def _row(self, name: str) -> Any:
        widgets, trait = self._ui, self.traits[name]
        field = self._input_widget(name)
        field.observe(lambda change, name=name: self._changed(name, change["new"]),
                      names="value")
        self.widgets[name] = field
        error = widgets.HTML(value="")
        self._error_labels[name] = error
        label = widgets.HTML(f"<code>{html.escape(name)}</code>",
                             layout=widgets.Layout(width="180px"))
        allowed = widgets.HTML(f"<small>{html.escape(trait.allowed_text())}; default "
                               f"<code>{html.escape(display_text(trait.default_value))}"
                               "</code></small>")
        help_text = widgets.HTML(f"<small style='color:#555'>{html.escape(trait.help)}</small>",
                                 layout=widgets.Layout(margin="0 0 0 184px"))
        return widgets.VBox([widgets.HBox([label, field, allowed]), help_text, error])

    def display(self) -> None:
        """Show the form in the notebook."""
        from IPython.display import display

        display(self.container)

    def _ipython_display_(self) -> None:
        self.display()

    # -- checking as values change ----------------------------------------

    def _changed(self, name: str, raw: Any) -> None:
        if self._refreshing:
            return
        try:
            value = parse_text_value(name, raw, self.parameters_class)
        except ParameterError as error:
            self.errors[name] = str(error)
            self.pending.pop(name, None)
            self._error_labels[name].value = (f"<span style='color:#c00'>refused: "
                                              f"{html.escape(str(error))}</span>")
            self.status.value = self._status_text()
            return
        self.errors.pop(name, None)
        self._error_labels[name].value = ""
        if value == getattr(self.session, name):
            self.pending.pop(name, None)
        else:
            self.pending[name] = value
        self.status.value = self._status_text()

    def _status_text(self) -> str:
        parts = []
        if self.pending:
            parts.append(f"{len(self.pending)} change(s) not applied: "
                         + ", ".join(html.escape(n) for n in self.pending))
        if self.errors:
            parts.append(f"<span style='color:#c00'>{len(self.errors)} value(s) refused: "
                         + ", ".join(html.escape(n) for n in self.errors) + "</span>")
        return "; ".join(parts)

    # -- buttons --------------------------------------------------------

    def apply(self) -> dict[str, Any] | None:
        """Set the accepted changes on the session.

        Returns
        -------
        dict or None
            The parameters changed; None (and nothing changed) while some
            value is refused or the changes together break a rule between
            parameters, with the reason in :attr:`status`.
        """
        if self.errors:
            self.status.value = ("<span style='color:#c00'>not applied: fix or cancel the "
                                 "refused value(s) first: " + "; ".join(
                                     html.escape(e) for e in self.errors.values()) + "</span>")
            return None
        problem = _consistency_problem(self.session, self.pending)
        if problem:
            self.status.value = (f"<span style='color:#c00'>not applied: "
                                 f"{html.escape(problem)}</span>")
            return None
        changed = _apply(self.session, self.pending)
        self.pending.clear()
        self.refresh()  # e.g. final_scale switches final_wcs on
        self.status.value = ("applied: " + ", ".join(
            f"{html.escape(n)} = {html.escape(display_text(v))}" for n, v in changed.items())
            if changed else "nothing to apply")
        return changed

    def cancel(self) -> None:
        """Forget the changes not applied and show the session's values again."""
        self.pending.clear()
        self.errors.clear()
        self.refresh()
        self.status.value = "cancelled: the session is unchanged"

    def refresh(self) -> None:
        """Show the session's current values (and no errors) in every field."""
        self._refreshing = True
        try:
            for name, field in self.widgets.items():
                value = getattr(self.session, name)
                field.value = (value if isinstance(self.traits[name], Choice) else
                               bool(value) if isinstance(self.traits[name], Flag) else
                               display_text(value))
                self._error_labels[name].value = ""
        finally:
            self._refreshing = False


# --------------------------------------------------------------------------
# Terminal: $EDITOR
# --------------------------------------------------------------------------


def _editor_command(editor: str | None) -> list[str]:
    command = editor or os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not command:
        if shutil.which("vi"):
            command = "vi"
        else:
            raise EditorUnavailableError(
                "editpars(): no editor: set the EDITOR environment variable (e.g. "
                f"EDITOR=nano); or {_HOW_TO_SET}")
    return shlex.split(command)


def _strip_error_block(lines: list[str]) -> list[str]:
    """The file's lines without the error block put on top by a previous round."""
    index = 0
    while index < len(lines) and lines[index].startswith(ERROR_MARK):
        index += 1
    return lines[index:]


def _file_problems(lines: list[str], parameters_class: type[DrizzleParameters]
                   ) -> list[tuple[int | None, str]]:
    """Every problem of a parameter file as (line number or None, reason).

    The same rules as :func:`~multidrizzle.session.parameters.load_pars`, but all the
    problems are collected, not only the first.
    """
    traits = parameters_class.parameter_traits()
    problems: list[tuple[int | None, str]] = []
    seen: dict[str, int] = {}
    for number, raw_line in enumerate(lines, start=1):
        line = raw_line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        section = _SECTION_LINE.match(line)
        if section:
            if section.group(1) not in STEPS:
                problems.append((number, f"unknown section [{section.group(1)}]; expected "
                                         f"one of {', '.join(STEPS)}"))
            continue
        assignment = _ASSIGNMENT_LINE.match(line)
        if not assignment:
            problems.append((number, f"cannot read {raw_line.strip()!r}; expected "
                                     "'name = value', '[section]' or a '#' comment"))
            continue
        name = canonical_name(assignment.group(1))
        if name not in traits:
            problems.append((number, _unknown_parameter_message(name, traits)))
            continue
        canonical = traits[name].metadata.get("alias_of", name)
        if canonical in seen:
            problems.append((number, f"parameter {name!r} is already set on line "
                                     f"{seen[canonical]}"))
            continue
        seen[canonical] = number
        try:
            traits[name].check(_parse_file_value(assignment.group(2)))
        except ParameterError as error:
            problems.append((number, str(error)))
    return problems


def _kept_reference_grids(session: DrizzleParameters, values: dict[str, Any],
                          path: Path) -> dict[str, Any]:
    """Values read back, with the session's WCS reference grids where they were not edited.

    ``save_pars`` writes a WCS to a FITS file beside the parameter file, in
    the temporary folder that goes away after the edit; a line left naming
    that file keeps the session's WCS.
    """
    kept = dict(values)
    for name, value in values.items():
        if value == str(reference_grid_file(path, name).resolve()):
            kept[name] = getattr(session, name)
    return kept


def _error_block(problems: list[tuple[int | None, str]]) -> list[str]:
    header = [
        f"{ERROR_MARK} multidrizzle: this file was not accepted; fix the problems below, "
        "save and quit.",
        f"{ERROR_MARK} To abandon: quit without saving, or delete everything and save.",
    ]
    offset = len(header) + len(problems)  # line numbers count the block itself
    return header + [f"{ERROR_MARK} ERROR: " + (f"line {number + offset}: "
                                               if number is not None else "") + reason
                     for number, reason in problems]


def edit_in_editor(session: DrizzleParameters, editor: str | None = None,
                   max_rounds: int = 20) -> dict[str, Any] | None:
    """Edit the parameters in a text editor, reopening until the file is valid.

    The parameters are written with :func:`~multidrizzle.session.parameters.save_pars`
    to a temporary file, which is opened with ``editor`` (default
    ``$VISUAL``, then ``$EDITOR``, then ``vi``).  When the editor exits the
    file is checked; if anything is wrong, it is reopened with every problem
    listed on top (lines starting ``#!``) until it is valid or abandoned.

    The edit is abandoned, and the session left unchanged, when the editor
    exits with an error (``:cq`` in vi), the file is saved empty, the file
    comes back unchanged after a rejected round, or ``max_rounds`` rounds
    have passed.

    Parameters
    ----------
    session : Multidrizzle or DrizzleParameters
        The parameters to edit; changed in place once the file is valid.
    editor : str, optional
        Editor command, split like a shell would (``"code --wait"``).
    max_rounds : int
        Give up after this many rejected rounds.

    Returns
    -------
    dict or None
        The parameters changed (possibly empty), or None if abandoned.
    """
    command = _editor_command(editor)
    parameters_class = type(session)
    with tempfile.TemporaryDirectory(prefix="multidrizzle-editpars-") as folder:
        path = Path(folder) / "multidrizzle.cfg"
        save_pars(session, path)
        for _ in range(max_rounds):
            presented = path.read_text(encoding="utf-8")
            try:
                finished = subprocess.run([*command, str(path)], check=False)
            except OSError as error:
                raise EditorUnavailableError(
                    f"editpars(): cannot start the editor {' '.join(command)!r}: "
                    f"{error.strerror or error}; set EDITOR, or {_HOW_TO_SET}") from None
            if finished.returncode != 0:
                log.warning("editpars: the editor exited with status %d; parameters "
                            "unchanged", finished.returncode)
                return None
            text = path.read_text(encoding="utf-8")
            if not text.strip():
                log.warning("editpars: the file was saved empty; parameters unchanged")
                return None
            if text == presented and presented.startswith(ERROR_MARK):
                log.warning("editpars: the rejected file came back unchanged; parameters "
                            "unchanged")
                return None
            body = _strip_error_block(text.splitlines())
            problems = _file_problems(body, parameters_class)
            if not problems:
                path.write_text("\n".join(body) + "\n", encoding="utf-8")
                values = _kept_reference_grids(session, load_pars(path, parameters_class),
                                               path)
                problem = _consistency_problem(session, values)
                if problem is None:
                    return _apply(session, values)
                problems = [(None, problem)]
            log.info("editpars: %d problem(s); reopening the editor", len(problems))
            path.write_text("\n".join(_error_block(problems) + body) + "\n",
                            encoding="utf-8")
    log.warning("editpars: still not valid after %d rounds; parameters unchanged", max_rounds)
    return None
