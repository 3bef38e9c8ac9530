"""A project keeps the embedding model it was written with; the multilingual model is one
config value away and ranks Chinese memories for Chinese (and English) queries."""

from __future__ import annotations

import numpy as np
import pytest

from engram.embeddings import Embedder, make_embedder
from engram.errors import EmbedderMismatchError, InvalidInputError
from engram.memory import Memory

MULTILINGUAL = {"embedder": {"model": "multilingual"}}


@pytest.fixture(scope="module")
def multilingual() -> Embedder:
    return make_embedder("local", model="multilingual")


@pytest.mark.parametrize(("model", "dims"), [("multilingual", 512),
                                             ("multilingual-e5-small", 384)])  # fmt: skip
def test_multilingual_vectors(model: str, dims: int) -> None:
    embedder = make_embedder("local", model=model)
    assert embedder.dims == dims
    vectors = embedder.embed(["Max右膝盖下坡时会疼", "Max下坡的时候膝盖疼", "Max在杭州做会计"])
    assert vectors.shape == (3, dims) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    same_meaning, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    # unrelated facts stay well below the reconciler's duplicate threshold (e5: centred)
    assert same_meaning > 0.7 and unrelated < 0.7 and same_meaning - unrelated > 0.2
    assert embedder.embed([]).shape == (0, dims)
    with pytest.raises(ValueError, match="dims"):
        make_embedder("local", model=model, dims=dims * 2)


def test_a_project_refuses_another_model(tmp_path, multilingual) -> None:
    path = str(tmp_path / "e.db")
    with Memory({"database": path}) as english:
        english.add("I prefer trail running", user_id="max", infer=False)
    with Memory({"database": path}, embedder=multilingual) as other:
        with pytest.raises(EmbedderMismatchError) as caught:
            other.search("running", user_id="max")
        assert isinstance(caught.value, InvalidInputError) and caught.value.field == "embedder"
        with pytest.raises(EmbedderMismatchError):
            other.add("我最近开始练瑜伽", user_id="max")
        # another project of the same store may use the other model
        chinese = other.for_project("zh")
        chinese.add("我最近开始练瑜伽", user_id="max")
        assert chinese.search("瑜伽", user_id="max")["results"]
    with Memory({"database": path}) as english:
        assert english.search("running", user_id="max")["results"]
        with pytest.raises(EmbedderMismatchError):
            english.for_project("zh").search("瑜伽", user_id="max")


def test_multilingual_store_ranks_chinese(tmp_path, multilingual) -> None:
    facts = ["我在杭州做会计", "我右膝盖下坡时会疼", "我养了一只猫", "我对花生过敏"]
    with Memory({"database": str(tmp_path / "e.db"), **MULTILINGUAL},
                embedder=multilingual) as m:  # fmt: skip
        for fact in facts:
            m.add(fact, user_id="max")
        assert len(m.get_all(user_id="max")["results"]) == 4

        def top(query: str) -> str:
            return m.search(query, user_id="max", limit=1)["results"][0]["memory"]

        assert "猫" in top("他有宠物吗")
        assert "膝盖" in top("knee pain")  # an English query finds the Chinese memory
