"""Substance identity for the early-warning system: everything RDKit lives here.

``resolve(text)`` turns a SMILES, an InChI or a name (street names and typos included) into a
:class:`Resolution`: standardised parent, InChIKey, preferred name, class label, novelty and
nearest known analogue, and the UK generic definition (Misuse of Drugs Act 1971) the
structure falls under, if any (:func:`uk_generic`).
"""

from chemistry.errors import ChemistryError
from chemistry.generics import uk_generic
from chemistry.resolve import Analogue, Resolution, resolve, resolve_many

__all__ = ["Analogue", "ChemistryError", "Resolution", "resolve", "resolve_many", "uk_generic"]
