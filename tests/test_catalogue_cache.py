"""The catalogue's parse cache (catalogue/cache.py): used only for the very texts it was made from,
never for data JSON cannot give back exactly, and never a reason to fail."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml

from kubeharden.catalogue import cache, loader

TEXTS = [("a.yaml", "controls:\n  - id: KH-X-001\n    n: 1\n    f: 1.5\n    ok: true\n    none: null\n"),
         ("b.yaml", "controls: []\n")]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path


class Counting:
    """yaml.safe_load that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, text: str):
        self.calls += 1
        return yaml.safe_load(text)


def test_second_load_comes_from_the_cache_with_the_same_data_and_types(home):
    parse = Counting()
    first = cache.parsed(TEXTS, parse, "test")
    assert parse.calls == 2 and (home / "kubeharden" / "catalogue.json").is_file()
    second = cache.parsed(TEXTS, parse, "test")
    assert parse.calls == 2, "the YAML was parsed again"
    assert second == first
    item = second[0]["controls"][0]
    assert [type(item[k]) for k in ("n", "f", "ok", "none")] == [int, float, bool, type(None)]


@pytest.mark.parametrize("change", ["text", "name", "loader"])
def test_other_texts_or_another_loader_parse_again(home, change):
    parse = Counting()
    cache.parsed(TEXTS, parse, "test")
    texts = list(TEXTS)
    if change == "text":
        texts[0] = ("a.yaml", TEXTS[0][1].replace("n: 1", "n: 2"))
    elif change == "name":
        texts[1] = ("c.yaml", TEXTS[1][1])
    got = cache.parsed(texts, parse, "other" if change == "loader" else "test")
    assert parse.calls == 4
    assert got[0]["controls"][0]["n"] == (2 if change == "text" else 1)


@pytest.mark.parametrize("text", ["when: 2024-01-01\n", "1: one\n", "x: .nan\n", "s: !!set {a: null}\n"])
def test_data_json_cannot_give_back_is_never_cached(home, text):
    parse = Counting()
    texts = [("a.yaml", text)]
    first = cache.parsed(texts, parse, "test")
    again = cache.parsed(texts, parse, "test")
    assert parse.calls == 2, "data that JSON changes must not come from the cache"
    if text.startswith("when"):
        assert again == first == [{"when": dt.date(2024, 1, 1)}]


def test_a_damaged_or_foreign_cache_file_is_parsed_again(home):
    parse = Counting()
    path = home / "kubeharden" / "catalogue.json"
    path.parent.mkdir()
    for content in (b"{not json", b"[]", json.dumps({"digest": "0" * 64, "files": [{}, {}]}).encode()):
        path.write_bytes(content)
        assert cache.parsed(TEXTS, parse, "test") == [yaml.safe_load(t) for _, t in TEXTS]
    assert parse.calls == 6


def test_a_cache_that_cannot_be_written_costs_only_the_time(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    parse = Counting()
    assert cache.parsed(TEXTS, parse, "test") == cache.parsed(TEXTS, parse, "test")
    assert parse.calls == 4


def test_parse_errors_still_surface(home):
    with pytest.raises(yaml.YAMLError):
        cache.parsed([("a.yaml", "controls: [\n")], yaml.safe_load, "test")


def test_a_relative_xdg_cache_home_is_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache.cache_path() == tmp_path / ".cache" / "kubeharden" / "catalogue.json"


def test_the_catalogue_from_the_cache_is_the_catalogue_from_yaml(home):
    load = loader.load_catalogue.__wrapped__  # not the process's cached copy, which other tests share
    from_yaml = load()
    assert (home / "kubeharden" / "catalogue.json").is_file()
    from_cache = load()
    assert from_cache is not from_yaml
    assert [repr(c) for c in from_cache] == [repr(c) for c in from_yaml]


@pytest.mark.skipif(not hasattr(__import__("os"), "getuid"), reason="POSIX ownership and modes")
def test_a_cache_file_others_can_write_is_never_read(home):
    """Its data decides which controls run: a file group or world could have written is parsed around."""
    import os

    parse = Counting()
    cache.parsed(TEXTS, parse, "test")
    path = home / "kubeharden" / "catalogue.json"
    assert parse.calls == 2 and not path.stat().st_mode & 0o077  # written for the user alone
    os.chmod(path, 0o666)
    cache.parsed(TEXTS, parse, "test")
    assert parse.calls == 4


def _cache_file(home):
    return home / "kubeharden" / "catalogue.json"


@pytest.mark.parametrize("damage", ["emptied controls", "one control dropped", "nested too deep", "header only"])
def test_a_damaged_cache_with_the_right_key_is_parsed_around(home, damage):
    """The header's key matches, but the data is not what was written: the YAML decides, never the damage."""
    parse = Counting()
    first = cache.parsed(TEXTS, parse, "test")
    path = _cache_file(home)
    header, body = path.read_text().split("\n", 1)
    data = json.loads(body)
    if damage == "emptied controls":
        body = json.dumps([{} for _ in data])
    elif damage == "one control dropped":
        data[0]["controls"] = []
        body = json.dumps(data)
    elif damage == "nested too deep":
        body = "[" * 200_000 + "]" * 200_000
    else:
        body = ""
    path.write_text(header + "\n" + body)
    assert cache.parsed(TEXTS, parse, "test") == first and parse.calls == 4


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="POSIX named pipes")
def test_a_named_pipe_at_the_cache_path_is_not_opened(home):
    import os

    path = _cache_file(home)
    path.parent.mkdir(parents=True)
    os.mkfifo(path, 0o600)
    parse = Counting()
    assert cache.parsed(TEXTS, parse, "test")[1] == {"controls": []} and parse.calls == 2
