"""GGUF structure check without llama.cpp, and model-file errors that blame the file, not the backend.

A truncated, LFS-pointer, directory or missing ``.gguf`` gives an error naming the file and what
to do, also where llama-cpp-python is not installed (simulated by blocking its import).
"""
from __future__ import annotations

import sys

import pytest

pytest.importorskip("gguf")

from local_models.config import Config, CustomModel, ModelsConfig
from local_models.errors import ModelError, ModelLoadError, ModelNotFound
from local_models.gguf_file import GGML_BLOCKS, GGUFFileError, inspect_gguf
from local_models.loader import load_generator
from tests.local_models.tiny_gguf import write_tiny_gguf


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf", "q4_0")


def test_block_sizes_match_gguf_py():
    """Our ggml type table agrees with gguf-py's GGML_QUANT_SIZES for every type both know."""
    import gguf

    theirs = {int(t): sizes for t, sizes in gguf.GGML_QUANT_SIZES.items()}
    shared = set(theirs) & set(GGML_BLOCKS)
    assert len(shared) >= 25
    assert {t: GGML_BLOCKS[t] for t in shared} == {t: tuple(theirs[t]) for t in shared}


def test_a_complete_file_passes_and_its_size_is_exact(tiny):
    info = inspect_gguf(tiny)
    assert info.version == 3 and info.architecture == "llama" and info.n_tensors > 0
    assert info.required_size == info.file_size  # the last tensor ends where the file ends


@pytest.mark.parametrize("cut, where", [(30, "metadata"), (0.5, "tensors"), (-1, "tensors")])
def test_truncation_anywhere_is_found(tiny, tmp_path, cut, where):
    data = tiny.read_bytes()
    if isinstance(cut, float):
        cut = int(len(data) * cut)
    path = tmp_path / "cut.gguf"
    path.write_bytes(data[:cut])
    with pytest.raises(GGUFFileError) as err:
        inspect_gguf(path)
    assert str(path) in str(err.value) and "is truncated" in str(err.value) and "download it again" in str(err.value)
    assert where in str(err.value)


def _config(tmp_path, path) -> Config:
    custom = {"mine": CustomModel(path=str(path), role="tactic", format="gguf", template="bfs")}
    return Config(models=ModelsConfig(models_dir=str(tmp_path / "models"), custom=custom))


@pytest.fixture
def no_llama_cpp(monkeypatch):
    """llama-cpp-python not importable, as on an install without the gguf extra."""
    for name in [m for m in sys.modules if m == "llama_cpp" or m.startswith("llama_cpp.")]:
        monkeypatch.delitem(sys.modules, name)
    import local_models

    monkeypatch.delitem(sys.modules, "local_models.nbest", raising=False)
    monkeypatch.delattr(local_models, "nbest", raising=False)  # `from local_models import nbest` reads it
    monkeypatch.setitem(sys.modules, "llama_cpp", None)


def _files(tmp_path, tiny):
    data = tiny.read_bytes()
    (tmp_path / "truncated.gguf").write_bytes(data[: len(data) * 2 // 3])
    (tmp_path / "lfs.gguf").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:ab12\nsize 99\n")
    (tmp_path / "folder.gguf").mkdir()
    return {
        "truncated": (tmp_path / "truncated.gguf", ModelLoadError, "is truncated"),
        "lfs-pointer": (tmp_path / "lfs.gguf", ModelLoadError, "Git LFS pointer"),
        "directory": (tmp_path / "folder.gguf", ModelNotFound, "is not a file"),
        "missing": (tmp_path / "absent.gguf", ModelNotFound, "does not exist"),
    }


@pytest.mark.parametrize("case", ["truncated", "lfs-pointer", "directory", "missing"])
def test_bad_model_files_are_blamed_on_the_file_without_llama_cpp(tmp_path, tiny, no_llama_cpp, case):
    """Without llama-cpp-python, a broken file still gets the file's error, never 'install llama-cpp-python'."""
    path, kind, message = _files(tmp_path, tiny)[case]
    with pytest.raises(kind) as err:
        load_generator("mine", _config(tmp_path, path), memory_check=False)
    text = str(err.value)
    assert isinstance(err.value, ModelError)
    assert message in text and str(path) in text and text.startswith("mine: ")
    assert "llama-cpp-python" not in text and "install" not in text.lower()


def test_a_good_file_without_llama_cpp_names_the_missing_backend(tmp_path, tiny, no_llama_cpp):
    """Only a file that is fine gets the 'backend not installed' message."""
    with pytest.raises(ModelLoadError) as err:
        load_generator("mine", _config(tmp_path, tiny), memory_check=False)
    assert "llama-cpp-python" in str(err.value) and "valid GGUF" in str(err.value)
