"""One embedding model per project: its id is recorded with the project's first write.

Vectors of two models live in unrelated spaces (even at the same 384 dims), so a search or
a reconciliation across them would rank at random. A Memory configured with another model
than the one a project was written with gets `EmbedderMismatchError`; `engram import` of an
export re-embeds instead (engram.transfer).
"""

from __future__ import annotations

from engram.errors import EmbedderMismatchError
from engram.stores.base import Store

SETTINGS_KEY = "embedding_model"


def check_model(store: Store, project: str, model_id: str, *, claim: bool) -> bool:
    """Raise if `project` was written with another model; with `claim`, record this one.
    True once the project's model is on record (and is this one): the answer cannot change
    until the project is reset, so a caller may remember it."""
    settings = store.settings(project)
    recorded = settings.get(SETTINGS_KEY)
    if recorded is None:
        if claim:
            store.save_settings(project, {**settings, SETTINGS_KEY: model_id})
        return claim
    if recorded != model_id:
        raise EmbedderMismatchError(
            f"project {project!r} holds vectors of embedding model {recorded!r}; this Memory "
            f"embeds with {model_id!r}. Configure the same embedder, or export and import the "
            "memories into a project of the new model (they are re-embedded)."
        )
    return True
