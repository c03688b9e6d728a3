"""The one exception root of the chemistry package."""


class ChemistryError(Exception):
    """Raised for problems with the package's own data files, never for bad user input.

    Bad input to :func:`chemistry.resolve` is a finding, reported in ``Resolution.error``.
    """
