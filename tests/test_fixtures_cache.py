"""The data cache: built once, atomically, keyed by the generators' source and the seed."""
import threading

import pytest

from fixtures import cache


@pytest.fixture
def fake_generators(monkeypatch, tmp_path):
    """Stand-ins for the real (slower) generators, counting how often they run."""
    from fixtures import nist36, pages

    calls = []

    def write_dataset(out_dir, seed=0):
        calls.append(("nist36", seed))
        for name in cache.NIST36_FILES:
            (out_dir / name).write_text(f"seed {seed}")

    def write_pages(images_dir, truth_path, seed=0):
        calls.append(("pages", seed))
        (images_dir / "page_01.jpg").write_text("jpg")
        truth_path.write_text("{}")

    monkeypatch.setattr(nist36, "write_dataset", write_dataset)
    monkeypatch.setattr(pages, "write_pages", write_pages)
    monkeypatch.setenv("HW5GRADE_CACHE", str(tmp_path / "cache"))
    return calls


def test_a_profile_is_built_once_and_then_reused(fake_generators):
    first = cache.build(seed=3, log=lambda *_: None)
    second = cache.build(seed=3, log=lambda *_: None)
    assert first == second and first.is_complete()
    assert fake_generators == [("nist36", 3), ("pages", 3)]
    assert (first.data_dir / "nist36_valid.mat").read_text() == "seed 3"
    assert first.truth_path.parent != first.images_dir, "ground truth must sit apart from what students see"


def test_seeds_get_their_own_folders_and_force_rebuilds(fake_generators):
    a = cache.build(seed=1, log=lambda *_: None)
    b = cache.build(seed=2, log=lambda *_: None)
    assert a.root != b.root
    cache.build(seed=1, force=True, log=lambda *_: None)
    assert fake_generators.count(("nist36", 1)) == 2


def test_a_failed_build_leaves_nothing_half_written(fake_generators, monkeypatch):
    from fixtures import pages

    def broken(images_dir, truth_path, seed=0):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pages, "write_pages", broken)
    with pytest.raises(RuntimeError):
        cache.build(seed=5, log=lambda *_: None)
    assert not cache.synthetic(5).root.exists()
    assert list(cache.cache_root().iterdir()) == []


def test_parallel_builders_agree_on_one_complete_profile(fake_generators):
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.build(seed=7, log=lambda *_: None)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and results[0].is_complete()
    assert [p.name for p in cache.cache_root().iterdir()] == [results[0].root.name]
