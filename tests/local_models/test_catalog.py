"""The packaged model catalog, its validation, and merging with the user's own models."""
from __future__ import annotations

import pytest

from local_models.catalog import (
    all_models,
    backend_module,
    expected_size,
    get_model,
    load_catalog,
    parse_catalog,
    prompt_template,
)
from local_models.config import Config, CustomModel, ModelsConfig
from local_models.errors import CatalogError, UnknownModel
from local_models.generation import GenerationRequest

REQUIRED = {
    "bfs-prover-v2-7b", "internlm2.5-step-prover", "deepseek-prover-v2-7b", "deepseek-prover-v1.5-rl",
    "goedel-prover-v2-8b", "kimina-prover-distill-1.7b", "kimina-prover-distill-8b",
    "reprover-tacgen-byt5-small", "reprover-retriever-byt5-small", "all-minilm-l6-v2",
}


def test_catalog_covers_the_required_models_with_consistent_fields() -> None:
    """The packaged catalog lists every required model with role, format, license and a backend."""
    catalog = load_catalog()
    assert set(catalog) >= REQUIRED
    for entry in catalog.values():
        assert entry.role in ("tactic", "whole-proof", "embedding")
        assert entry.format in ("gguf", "onnx", "served")
        assert entry.license and entry.description
        assert backend_module(entry).startswith("local_models.")
        if entry.format == "served":  # runs in the user's server: nothing on our disk
            assert entry.endpoint is not None and entry.source is None and entry.path is None, entry.id
        else:
            assert expected_size(entry), f"{entry.id} has no size for the disk-space check"
    assert catalog["goedel-prover-v2-8b"].role == "whole-proof"
    assert backend_module(catalog["all-minilm-l6-v2"]) == "local_models.onnx_encoder"
    assert backend_module(catalog["reprover-tacgen-byt5-small"]) == "local_models.onnx_seq2seq"
    assert backend_module(catalog["bfs-prover-v2-7b"]) == "local_models.gguf_backend"


def test_unverified_sources_carry_no_checksum_and_verified_ones_do() -> None:
    """No sha256 is invented: only verified sources list checksums, and all of their files have one."""
    for entry in load_catalog().values():
        if entry.source is None:
            continue
        sums = [f.sha256 for f in entry.files]
        if entry.verified:
            assert all(s and len(s) == 64 for s in sums), entry.id
            assert all(f.size for f in entry.files), entry.id
        else:
            assert not any(sums), f"{entry.id} is unverified but lists a sha256"


def test_packaged_test_models_have_the_measured_checksums() -> None:
    """The PyPI-shipped models carry the checksums measured from the installed wheels."""
    smol = load_catalog()["smollm2-135m-instruct-q4"]
    assert smol.files[0].sha256 == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert expected_size(load_catalog()["all-minilm-l6-v2-int8"]) == 22_928_619 + 466_247


CATALOG_OK = """
[[model]]
id = "m1"
role = "tactic"
format = "gguf"
template = "bfs"
"""


def test_parse_catalog_rejects_duplicates_unknown_templates_and_bad_values() -> None:
    """Catalog mistakes are reported with the file and the offending model or field."""
    assert set(parse_catalog(CATALOG_OK, "x.toml")) == {"m1"}
    with pytest.raises(CatalogError, match="x.toml: model id 'm1' appears twice"):
        parse_catalog(CATALOG_OK * 2, "x.toml")
    with pytest.raises(CatalogError, match="x.toml: model 'm1': unknown prompt template 'nope'"):
        parse_catalog(CATALOG_OK.replace('"bfs"', '"nope"'), "x.toml")
    with pytest.raises(CatalogError, match=r"x.toml: Invalid enum value 'tactics' - at `\$.model\[0\].role`"):
        parse_catalog(CATALOG_OK.replace('"tactic"', '"tactics"'), "x.toml")
    with pytest.raises(CatalogError, match="x.toml: invalid TOML"):
        parse_catalog("[[model]\n", "x.toml")
    with pytest.raises(CatalogError, match="no backend for a gguf embedding model"):
        parse_catalog(CATALOG_OK.replace('"tactic"', '"embedding"'), "x.toml")


def _config(**custom: CustomModel) -> Config:
    return Config(models=ModelsConfig(custom=custom), origins={"models.custom": "proj/.lean-companion.toml"})


def test_user_models_merge_with_the_catalog() -> None:
    """A local GGUF with its own prompt joins the catalog models and renders through its inline template."""
    config = _config(mine=CustomModel(path="/m/x.gguf", role="tactic", format="gguf",
                                      prompt="[G]{goal}[T]", stop=["\n"]))
    models = all_models(config)
    assert set(load_catalog()) < set(models)
    mine = models["mine"]
    assert mine.custom and mine.path == "/m/x.gguf"
    template = prompt_template(mine)
    assert template.render(GenerationRequest(goal="⊢ True")) == "[G]⊢ True[T]"
    assert template.stop == ("\n",)


def test_user_model_extending_a_catalog_entry_reuses_its_settings() -> None:
    """``extends`` copies role, format and template from a catalog model; the user gives the file."""
    config = _config(bfs=CustomModel(extends="bfs-prover-v2-7b", repo="me/BFS-GGUF", file="q/bfs.Q4_0.gguf",
                                     sha256="a" * 64))
    entry = get_model("bfs", config)
    base = load_catalog()["bfs-prover-v2-7b"]
    assert (entry.role, entry.format, entry.template) == (base.role, base.format, base.template)
    assert entry.source is not None and entry.source.repo == "me/BFS-GGUF"
    assert entry.files[0].name == "bfs.Q4_0.gguf" and entry.files[0].repo_path == "q/bfs.Q4_0.gguf"
    assert entry.files[0].sha256 == "a" * 64


def test_clashes_and_incomplete_user_models_are_clear_errors() -> None:
    """A user id equal to a catalog id, or a user model without a file or role, names file and key."""
    with pytest.raises(CatalogError, match=r"proj/.lean-companion.toml: models.custom.bfs-prover-v2-7b: clashes"):
        all_models(_config(**{"bfs-prover-v2-7b": CustomModel(path="/x.gguf", role="tactic", format="gguf")}))
    with pytest.raises(CatalogError, match=r"models.custom.a: give 'path'"):
        all_models(_config(a=CustomModel(role="tactic", format="gguf")))
    with pytest.raises(CatalogError, match=r"models.custom.a: missing 'role'"):
        all_models(_config(a=CustomModel(path="/x.gguf", format="gguf")))
    with pytest.raises(CatalogError, match=r"models.custom.a.extends: unknown catalog model 'zz'"):
        all_models(_config(a=CustomModel(extends="zz", path="/x.gguf")))
    with pytest.raises(CatalogError, match=r"'repo' needs 'file'"):
        all_models(_config(a=CustomModel(extends="bfs-prover-7b", repo="me/r")))


def test_unknown_model_suggests_close_ids() -> None:
    """An unknown id is an UnknownModel error offering the nearest known ids."""
    with pytest.raises(UnknownModel, match="did you mean bfs-prover-v2-7b"):
        get_model("bfs-prover-v2")
