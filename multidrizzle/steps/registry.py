"""One name -> implementation table per algorithm family.

Each family (sky methods, sky statistics, combine types, drizzle kernels,
blot interpolants, final weighting schemes) has exactly one
:class:`Registry`, kept in the module of the step that uses it.  A registry
entry carries the implementation and the properties other steps need (for
example whether a combine type is a mean, which sets the cosmic-ray test's
variance ratio), so that a name is listed in one place only.  The session's
parameters take their allowed values from the registries, and looking up a
name that is not registered raises
:class:`~multidrizzle.errors.UnknownAlgorithmError` naming the family and the
parameter, never runs another algorithm instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from multidrizzle.errors import UnknownAlgorithmError

__all__ = ["Registry"]

Entry = TypeVar("Entry")


class Registry(Mapping[str, Entry], Generic[Entry]):
    """The algorithms of one family, by name, in the order users see them.

    Parameters
    ----------
    family : str
        What the names are, for messages ("sky method", "drizzle kernel").
    parameters : tuple of str
        The parameters whose values are names of this family.
    entries : mapping
        Canonical name -> entry.  Look-ups ignore case and surrounding blanks.
    """

    def __init__(self, family: str, parameters: tuple[str, ...],
                 entries: Mapping[str, Entry]) -> None:
        self.family = family
        self.parameters = tuple(parameters)
        self._entries = dict(entries)
        self._canonical = {name.lower(): name for name in self._entries}

    @property
    def names(self) -> tuple[str, ...]:
        """The canonical names, in order: the allowed values of the parameters."""
        return tuple(self._entries)

    def canonical(self, name: object) -> str:
        """The registered spelling of ``name``.

        Raises
        ------
        UnknownAlgorithmError
            If ``name`` is not registered; the message names the family, the
            parameters and the known names.
        """
        key = name.strip().lower() if isinstance(name, str) else None
        if key not in self._canonical:
            raise UnknownAlgorithmError(
                f"{self.family} {name!r} is not known (parameter "
                f"{' / '.join(repr(p) for p in self.parameters)}); expected one of "
                f"{', '.join(self._entries)}")
        return self._canonical[key]

    def __getitem__(self, name: str) -> Entry:
        return self._entries[self.canonical(name)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip().lower() in self._canonical

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.family!r}: {', '.join(self._entries)})"
