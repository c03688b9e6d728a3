"""An alert's substance drawn by RDKit (SVG), found from its key or its preferred name."""

from __future__ import annotations

import functools
import threading

from sqlalchemy import select

from services.store import EventRow, Store

_lock = threading.Lock()
_cache: dict[tuple[str | None, str | None], str | None] = {}
MAX_CACHED = 2048


class NoStructure(Exception):
    """The alert names no single substance, or its structure cannot be found or drawn."""


def _smiles(store: Store, key: str | None, name: str | None) -> str | None:
    from chemistry import resolve

    if name:
        resolved = resolve(name)
        if resolved.smiles and (key is None or resolved.key == key):
            return resolved.smiles
    if key:  # a structure reported as such (a new one has no name): resolve what was reported
        with store.session() as session:
            mentions = session.execute(
                select(EventRow.payload["mention"].as_string())
                .where(EventRow.substance_key == key).limit(20)).scalars().all()
        for mention in dict.fromkeys(m for m in mentions if m):
            resolved = resolve(mention)
            if resolved.smiles and resolved.key == key:
                return resolved.smiles
    return None


@functools.lru_cache(maxsize=MAX_CACHED)
def draw(smiles: str, width: int = 360, height: int = 260) -> str:
    """SVG of a structure (RDKit's 2D depiction)."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem.Draw import rdMolDraw2D

    RDLogger.DisableLog("rdApp.*")
    try:
        mol = Chem.MolFromSmiles(smiles)
    finally:
        RDLogger.EnableLog("rdApp.*")
    if mol is None:
        raise NoStructure(f"RDKit cannot parse {smiles!r}")
    drawer = rdMolDraw2D.MolDraw2DSVG(width, height)
    drawer.drawOptions().clearBackground = False
    rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol)
    drawer.FinishDrawing()
    return drawer.GetDrawingText()


def structure_svg(store: Store, key: str | None, name: str | None) -> str:
    """The drawing of the substance with this key (InChIKey) and/or preferred name.

    Raises:
        NoStructure: no key and no name (a class alert), or nothing resolves to the key.
    """
    if not key and not name:
        raise NoStructure("this alert is about a class of substances, not one structure")
    with _lock:
        cached = _cache.get((key, name), "")
    if cached == "":
        cached = _smiles(store, key, name)
        with _lock:
            if len(_cache) < MAX_CACHED:
                _cache[(key, name)] = cached
    if cached is None:
        raise NoStructure(f"no structure known for {name or key}")
    return draw(cached)
