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

    def write_grader_split(path, seed=0):
        calls.append(("grader", seed))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"grader seed {seed}")

    monkeypatch.setattr(nist36, "write_dataset", write_dataset)
    monkeypatch.setattr(pages, "write_pages", write_pages)
    monkeypatch.setattr(nist36, "write_grader_split", write_grader_split)
    monkeypatch.setenv("HW5GRADE_CACHE", str(tmp_path / "cache"))
    return calls


def test_a_profile_is_built_once_and_then_reused(fake_generators):
    first = cache.build(seed=3, log=lambda *_: None)
    second = cache.build(seed=3, log=lambda *_: None)
    assert first == second and first.is_complete()
    assert fake_generators == [("nist36", 3), ("pages", 3), ("grader", 3)]
    assert (first.data_dir / "nist36_valid.mat").read_text() == "seed 3"
    assert first.truth_path.parent != first.images_dir, "ground truth must sit apart from what students see"
    assert first.grader_path.read_text() == "grader seed 3"
    assert first.data_dir not in first.grader_path.parents, "the grader-only split must sit apart from data/"
    assert cache.grader_split_path(first.data_dir) == first.grader_path


def test_a_course_key_gets_its_own_photos_and_grader_split(fake_generators):
    from graders.checks import secret
    key, other = bytes(range(32)), bytes(range(1, 33))
    public = cache.build(log=lambda *_: None)
    staff = cache.staff(key, log=lambda *_: None)
    assert cache.staff(key, log=lambda *_: None) == staff, "built once, then reused"
    assert cache.staff(other, log=lambda *_: None).root != staff.root
    seeds = {secret.derive(key, "pages"), secret.derive(key, "nist36 grader")}
    assert ("pages", secret.derive(key, "pages")) in fake_generators
    assert ("grader", secret.derive(key, "nist36 grader")) in fake_generators
    # the sandbox can read the paths it mounts: no key and no seed in the folder's name
    assert key.hex() not in staff.root.name and not any(str(s) in staff.root.name for s in seeds)
    assert not any(f"{s:x}" in staff.root.name for s in seeds)
    # NIST36 itself is the public one (the student has it), linked, not drawn again
    assert fake_generators.count(("nist36", 0)) == 1
    assert (staff.data_dir / "nist36_train.mat").read_text() == "seed 0"
    assert staff.grader_path.read_text() != public.grader_path.read_text()
    assert cache.grading(key, log=lambda *_: None) == staff and cache.grading(None, log=lambda *_: None) == public


def test_a_layout_under_a_key_links_the_staff_photos(fake_generators, monkeypatch):
    from fixtures import nist36
    key = bytes(range(32))

    def write_set(out_dir, seed=0, variant="set1"):
        for name in cache.NIST36_FILES:
            (out_dir / name).write_text(f"{variant} seed {seed}")

    monkeypatch.setattr(nist36, "write_dataset", write_set)
    files = {"data1/nist36_{split}_set1.mat": "set1", "data2/nist36_{split}_set2.mat": "set2"}
    public, staff = cache.layout(files, log=lambda *_: None), cache.layout(files, log=lambda *_: None, key=key)
    assert public.root != staff.root
    assert staff.truth_path.read_text() == cache.staff(key, log=lambda *_: None).truth_path.read_text()
    assert staff.grader_path.read_text() == cache.staff(key, log=lambda *_: None).grader_path.read_text()
    assert (staff.data_dir / "data2" / "nist36_valid_set2.mat").read_text() == "set2 seed 0"


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
