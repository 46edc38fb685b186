"""normalize(): every lineage form, both key spellings, hostile input."""
import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from phylohf.store.ingest import ingest_file
from phylohf.sources.normalize import PICKER_HEAD, language_codes, normalize
from phylohf.sources.records import MalformedRecord
from phylohf.store.database import Store

LISTING = {
    "_id": "65f0c0ffee", "id": "org/llama-ft", "modelId": "org/llama-ft", "author": "org",
    "createdAt": "2024-03-01T10:00:00.000Z", "lastModified": "2024-04-01T00:00:00.000Z",
    "downloads": 1234, "likes": 5, "private": False, "gated": False,
    "library_name": "transformers", "pipeline_tag": "text-generation",
    "tags": ["transformers", "safetensors", "llama", "text-generation", "conversational", "en", "fr",
             "license:llama3.1", "dataset:tatsu-lab/alpaca", "arxiv:2106.09685", "region:us",
             "base_model:meta-llama/Llama-3.1-8B", "base_model:finetune:meta-llama/Llama-3.1-8B"],
    "cardData": {"license": "llama3.1", "language": ["en", "fr"], "datasets": ["tatsu-lab/alpaca"],
                 "base_model": "meta-llama/Llama-3.1-8B", "pipeline_tag": "text-generation"},
    "config": {"architectures": ["LlamaForCausalLM"], "model_type": "llama"},
}


def model_info_dump(listing: dict) -> dict:
    """The same model as a snake_case ModelInfo dump with card data as a YAML string."""
    return {"id": listing["id"], "author": listing["author"], "created_at": listing["createdAt"],
            "last_modified": listing["lastModified"], "downloads": listing["downloads"],
            "likes": listing["likes"], "library_name": listing["library_name"],
            "pipeline_tag": listing["pipeline_tag"], "tags": listing["tags"],
            "card_data": yaml.safe_dump(listing["cardData"]), "config": listing["config"]}


def test_camel_case_listing():
    r = normalize(LISTING)
    assert r.id == "org/llama-ft" and r.author == "org"
    assert r.created_at == dt.datetime(2024, 3, 1, 10, 0)
    assert r.license == "llama3.1" and r.languages == ("en", "fr") and not r.multilingual
    assert r.pipeline_tag == "text-generation" and r.library == "transformers"
    assert r.architecture == "llama"
    assert r.datasets == ("tatsu-lab/alpaca",)
    assert r.tags == ("arxiv:2106.09685", "conversational", "safetensors")
    assert r.parents == (("meta-llama/Llama-3.1-8B", "finetune"),)
    assert (r.downloads, r.likes) == (1234, 5)
    assert r.fixes == ()


def test_snake_case_model_info_dump_is_the_same_record():
    assert normalize(model_info_dump(LISTING)) == normalize(LISTING)


@pytest.mark.parametrize("record, parents", [
    ({"tags": ["base_model:adapter:a/b"]}, (("a/b", "adapter"),)),
    ({"tags": ["base_model:a/b"]}, (("a/b", "finetune"),)),
    ({"tags": ["base_model:a/b"], "library_name": "peft"}, (("a/b", "adapter"),)),
    ({"tags": ["base_model:a/b", "gguf"]}, (("a/b", "quantized"),)),
    ({"tags": ["base_model:a/b", "base_model:c/d"]}, (("a/b", "merge"), ("c/d", "merge"))),
    ({"cardData": {"base_model": "a/b"}}, (("a/b", "finetune"),)),
    ({"cardData": {"base_model": "a/b", "base_model_relation": "quantized"}}, (("a/b", "quantized"),)),
    # several card entries are a merge only when the card says so; otherwise the first is the parent
    ({"cardData": {"base_model": ["a/b", "c/d"]}}, (("a/b", "finetune"),)),
    ({"cardData": {"base_model": ["a/b", "c/d"], "base_model_relation": "merge"}},
     (("a/b", "merge"), ("c/d", "merge"))),
    ({"cardData": {"base_model": ["a/b", "c/d"]}, "tags": ["base_model:merge:a/b", "base_model:merge:c/d"]},
     (("a/b", "merge"), ("c/d", "merge"))),
    # the Hub links the parent of its relation tag, whatever the card lists first (SherryX/STAR)
    ({"cardData": {"base_model": ["ali-vilab/i2vgen-xl", "THUDM/CogVideoX-5b"]},
      "tags": ["base_model:THUDM/CogVideoX-5b", "base_model:finetune:THUDM/CogVideoX-5b"]},
     (("THUDM/CogVideoX-5b", "finetune"),)),
    # relation tags in tag order, each with its relation, over the card's relation
    ({"cardData": {"base_model": "a/b", "base_model_relation": "adapter"},
      "tags": ["base_model:quantized:a/b", "base_model:finetune:e/f"]},
     (("a/b", "quantized"), ("e/f", "finetune"))),
    # the Hub's own resolution (baseModels) over tags and card, in both key spellings and shapes
    ({"baseModels": {"models": [{"id": "h/one"}], "relation": "adapter"},
      "tags": ["base_model:finetune:t/one"], "cardData": {"base_model": "c/one"}}, (("h/one", "adapter"),)),
    ({"base_models": {"models": [{"id": "h/one"}, {"id": "h/two"}], "relation": "merge"}},
     (("h/one", "merge"), ("h/two", "merge"))),
    ({"baseModels": json.dumps({"models": [{"id": "h/one"}], "relation": "quantized"})}, (("h/one", "quantized"),)),
    ({"base_models": ["h/one"], "tags": ["base_model:adapter:h/one"]}, (("h/one", "adapter"),)),
    ({"baseModels": {"models": [], "relation": "finetune"}, "tags": ["base_model:adapter:t/one"]},
     (("t/one", "adapter"),)),
])
def test_lineage_forms(record, parents):
    assert normalize({"id": "x/child", **record}).parents == parents


@pytest.mark.parametrize("base_model, parents, fixes", [
    ("https://huggingface.co/a/b", ("a/b",), ("url_parent",)),
    ("https://www.huggingface.co/a/b/", ("a/b",), ("url_parent",)),
    ("hf.co/a/b", ("a/b",), ("url_parent",)),
    ("https://huggingface.co/models/a/b", ("a/b",), ("url_parent",)),
    ("  a/b\n", ("a/b",), ("padded_parent",)),
    ("x/child", (), ("self_parent",)),
    ("https://huggingface.co/x/child", (), ("url_parent", "self_parent")),
    (42, (), ("bad_parent",)),
    ({"id": "a/b"}, (), ("bad_parent",)),
    (None, (), ()),
    ("", (), ()),
    (["a/b", ["c/d", 7, ["deeper/x"]], None, 3.5], ("a/b",), ("unlinked_card_parent", "bad_parent")),
    (["a/b", "a/b", " a/b "], ("a/b",), ("padded_parent",)),
    (["X/Child", "a/b"], ("a/b",), ("self_parent",)),
    ("Ünïcode/模型-名", ("Ünïcode/模型-名",), ()),
])
def test_hostile_parent_ids(base_model, parents, fixes):
    r = normalize({"id": "x/child", "cardData": {"base_model": base_model}})
    assert tuple(p for p, _ in r.parents) == parents
    assert r.fixes == fixes


def test_nested_card_lists_of_a_merge():
    r = normalize({"id": "x/child", "cardData": {"base_model": ["a/b", ["c/d", 7, ["deeper/x"]], None, 3.5],
                                                 "base_model_relation": "merge"}})
    assert r.parents == (("a/b", "merge"), ("c/d", "merge")) and r.fixes == ("bad_parent",)


def test_parent_ids_are_case_insensitive():
    # one parent tagged twice in different case is one parent (the first spelling); the model
    # itself in another case is a self reference; a card entry in another case is linked
    r = normalize({"id": "x/child", "cardData": {"base_model": ["unsloth/llama-3.2-3b-instruct-bnb-4bit", "x/CHILD"]},
                   "tags": ["base_model:merge:unsloth/Llama-3.2-3B-Instruct-bnb-4bit",
                            "base_model:merge:UNSLOTH/llama-3.2-3b-instruct-bnb-4bit",
                            "base_model:merge:X/Child", "base_model:merge:c/d"]})
    assert r.parents == (("unsloth/Llama-3.2-3B-Instruct-bnb-4bit", "merge"), ("c/d", "merge"))
    assert r.fixes == ("self_parent", "case_duplicate_parent")


def test_unknown_license_declares_nothing():
    for record in ({"cardData": {"license": "unknown"}}, {"tags": ["license:unknown"]}, {"cardData": {"license": "Unknown"}}):
        r = normalize({"id": "a/b", "author": "a", **record})
        assert r.license is None and r.fixes == ("unknown_license",)
    assert normalize({"id": "a/b", "cardData": {"license": "other"}}).license == "other"


@pytest.mark.parametrize("card, tags, languages, picker", [
    # real cards: the picker's first entries, alone or after a few real picks
    (["ak", "ab", "ae", "am", "an", "ar", "as", "ay", "av"], [], (), True),
    (["en", "hi", "as", "mr", "uk", "ja", "aa", "ab", "ae", "ak", "am", "af", "ar"], [], (), True),
    (["ae", "aa", "ay", "ba", "be", "av"], [], (), True),
    (None, ["ae", "ak", "aa"], (), True),
    (["ave", "abk"], [], (), True),                     # three-letter spellings of ae, ab
    # real multilingual declarations are kept, Afar and Abkhazian included (no Avestan)
    (["ak", "ar", "as", "bm", "bn", "en"], [], ("ak", "ar", "as", "bm", "bn", "en"), False),
    (["ab", "af", "am", "ar"], [], ("ab", "af", "am", "ar"), False),
    (["aar", "abk", "af", "am"], [], ("aa", "ab", "af", "am"), False),
    (None, ["ab", "aa"], ("aa", "ab"), False),
    (["ae"], [], ("ae",), False),
])
def test_language_picker_list_declares_nothing(card, tags, languages, picker):
    r = normalize({"id": "a/b", "author": "a", "tags": tags, **({"cardData": {"language": card}} if card else {})})
    assert r.languages == languages
    assert r.fixes == (("language_picker",) if picker else ())
    assert r.tags == ()                                  # picker codes are not free tags either


def test_whole_picker_list_declares_nothing():
    codes = sorted(c for c in language_codes().column("code").to_pylist() if len(c) == 2)
    assert codes[:3] == list(PICKER_HEAD)                # the picker's head is the alphabet's head
    r = normalize({"id": "a/b", "author": "a", "cardData": {"language": codes}})
    assert r.languages == () and r.fixes == ("language_picker",)


def test_a_record_with_only_an_id_is_flagged():
    assert normalize({"id": "a/b"}).fixes == ("no_metadata",)
    assert normalize({"id": "a/b", "likes": 0}).fixes == ()


def test_model_id_as_url_and_author_from_id():
    r = normalize({"modelId": " https://huggingface.co/org/m ", "tags": "not-a-list", "likes": 1})
    assert r.id == "org/m" and r.author == "org" and r.fixes == ("url_id", "tags_text") and r.tags == ("not-a-list",)


@pytest.mark.parametrize("record", [{}, {"id": ""}, {"id": "   "}, {"id": 5}, {"modelId": None}])
def test_records_without_id_are_malformed(record):
    with pytest.raises(MalformedRecord):
        normalize(record)


def test_not_an_object_is_malformed():
    with pytest.raises(MalformedRecord, match="expected a JSON object"):
        normalize(["id", "a/b"])


def test_languages_are_validated_iso_codes():
    r = normalize({"id": "a/b", "library_name": "aak", "config": {"model_type": "abc"},
                   "tags": ["en", "zz", "yue", "moe", "rag", "gan", "opt", "trl", "v1", "ai",
                            "aak", "abc", "multilingual"],
                   "cardData": {"language": ["eng", "de-DE", "pt_BR", "klingon", "fra", 12]}})
    # card: eng -> en, de-DE -> de, pt_BR -> pt, fra -> fr; tags: en, yue (ISO 639-3);
    # zz, v1, ai are not codes; moe/rag/gan/opt/trl are ML words, not languages, as tags;
    # aak and abc are ISO 639-3 codes but here the library and the architecture
    assert r.languages == ("de", "en", "fr", "pt", "yue")
    assert r.multilingual
    assert r.tags == ("ai", "gan", "moe", "opt", "rag", "trl", "v1", "zz")


def test_single_language_string_and_license_from_tag():
    r = normalize({"id": "a/b", "tags": ["license:MIT"], "cardData": {"language": "ja"}})
    assert r.languages == ("ja",) and r.license == "mit"


def test_card_license_list_and_license_name():
    r = normalize({"id": "a/b", "cardData": {"license": ["other", "mit"], "license_name": "acme-1.0"}})
    assert r.license == "other" and r.license_name == "acme-1.0"


@pytest.mark.parametrize("card_data", [
    "!!python/object/apply:os.system ['echo pwned']",   # unsafe YAML is never executed
    "{not: json: [",
    "[1, 2, 3]",
    "just a sentence",
])
def test_bad_card_data_is_flagged_not_fatal(card_data):
    r = normalize({"id": "a/b", "card_data": card_data, "tags": ["license:mit"]})
    assert r.fixes == ("bad_card_data",) and r.license == "mit"


def test_yaml_card_data_with_front_matter_fences():
    r = normalize({"id": "a/b", "card_data": "---\nlicense: apache-2.0\nbase_model: c/d\n---\n"})
    assert r.license == "apache-2.0" and r.parents == (("c/d", "finetune"),)


def test_unreadable_date_is_unknown():
    r = normalize({"id": "a/b", "createdAt": "the day before yesterday"})
    assert r.created_at is None and r.fixes == ("bad_date",)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=60, deadline=None)
@given(tags=st.lists(st.text(max_size=30), max_size=8), base_model=json_values,
       language=json_values, relation=json_values)
def test_never_crashes_on_arbitrary_json(tags, base_model, language, relation):
    record = {"id": "x/child", "tags": tags, "cardData": {
        "base_model": base_model, "language": language, "base_model_relation": relation}}
    r = normalize(json.loads(json.dumps(record)))
    assert r.id == "x/child"
    assert all(p.lower() != "x/child" and p and rel in ("finetune", "adapter", "quantized", "merge")
               for p, rel in r.parents)
    assert len({p.lower() for p, _ in r.parents}) == len(r.parents)


def test_base_models_from_a_parquet_struct_column(tmp_path):
    # the hub-stats snapshot's shape: baseModels a struct {models: [{id}], relation}, often null
    pq.write_table(pa.Table.from_pylist([
        {"id": "x/merge", "tags": ["base_model:merge:t/one"],
         "baseModels": {"models": [{"id": "h/one"}, {"id": "h/two"}], "relation": "merge"}},
        {"id": "x/plain", "tags": ["base_model:adapter:t/one"], "baseModels": None}]), tmp_path / "hub.parquet")
    with Store(tmp_path / "s.duckdb") as s:
        ingest_file(s, tmp_path / "hub.parquet", progress=False)
        got = s.con.execute("SELECT id, parents FROM models ORDER BY id").fetchall()
    assert got == [("x/merge", [{"id": "h/one", "relation": "merge"}, {"id": "h/two", "relation": "merge"}]),
                   ("x/plain", [{"id": "t/one", "relation": "adapter"}])]
