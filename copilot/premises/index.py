"""``PremiseIndex``: the project's declarations, searchable lexically (and densely), kept current.

All public methods are blocking and thread-safe (one re-entrant lock); copilot calls them
from a worker thread. ``open`` never raises for a broken stored index: it logs and rebuilds.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import numpy as np

from . import store
from .accessibility import import_closure
from .dense import DenseIndex, encode_all
from .extract_source import FileResult, extract_file, extract_files, module_name
from .features import declaration_features, key_hash, query_features, statement_key
from .fusion import SAME_FILE_BOOST, best_positions, rank_documents
from .learned import Query, namespace_of
from .learned import rank as learned_rank
from .lexical import LexicalIndex, build_base
from .model import PremiseModel
from .query import (
    dense_query_text,
    document_text,
    document_tokens,
    goal_query_tokens,
    looks_like_goal,
    looks_like_statement,
    module_tokens,
    query_tokens,
    split_statement,
    statement_query_tokens,
)
from .records import EXTRACTOR_VERSION, Declaration, PremiseHit
from .sources import SourceRoot, discover_roots, list_files

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

#: Candidates taken from each ranking before fusion.
FUSION_DEPTH = 200
#: Fusion used when an encoder is configured: (method, dense weight); see fusion.rank_documents.
DEFAULT_FUSION: tuple[str, float] = ("zscore", 0.5)


class PremiseIndex:
    """A project's premise index. Create it with ``PremiseIndex.open``."""

    def __init__(self, project_root: Path, folder: Path, encoder=None) -> None:
        self.project_root = project_root.resolve()
        self.folder = folder
        self.encoder = encoder
        self.fusion = DEFAULT_FUSION
        self._lock = threading.RLock()
        self._watcher = None
        self._roots: list[SourceRoot] = []
        self._files: list[store.FileInfo] = []
        self._file_id: dict[str, int] = {}
        self._base_decls: list[Declaration] = []
        self._base_file = np.zeros(0, np.int32)
        self._base_line = np.zeros(0, np.int32)
        self._delta = store.Delta(files={}, decls={}, removed=[])
        self._delta_decls: list[Declaration] = []
        self._delta_file = np.zeros(0, np.int32)
        self._delta_line = np.zeros(0, np.int32)
        self._lexical: LexicalIndex | None = None
        self._model: PremiseModel | None = None
        self.learned = True  # rank with the learned signals (False: the lexical/dense fusion only)
        self._dense: DenseIndex | None = None
        self._alive = np.zeros(0, bool)
        self._orders: dict[str, np.ndarray] = {}
        self._all_file = np.zeros(0, np.int32)
        self._all_line = np.zeros(0, np.int32)
        self._graph: dict[str, list[str]] | None = None
        self._mask_cache: dict[tuple, np.ndarray] = {}  # import-closure file masks
        self._allowed_cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}  # per-document masks of those
        self._file_docs_cache: tuple[np.ndarray, np.ndarray] | None = None
        self.build_seconds = 0.0
        self.rebuilt_reason: str | None = None
        self.use_lean = False

    # ------------------------------------------------------------------ opening / building

    @classmethod
    def open(
        cls,
        project_root: Path,
        *,
        encoder=None,
        build: bool = True,
        progress: Progress | None = None,
        cache_root: Path | None = None,
        include_toolchain: bool = True,
        lean: bool = False,
        force: bool = False,
    ) -> PremiseIndex:
        """Load the project's index, bringing it up to date; rebuild it if stale or corrupt.

        With ``build=False`` a missing or unusable index gives an empty one instead of a build.
        With an ``encoder``, dense vectors are built (or reused when the stored encoder id
        matches) and searches fuse lexical and dense rankings. With ``lean=True`` a rebuild
        takes the project's declarations from Lean itself (``DumpDecls.lean``; the project
        must be built) and falls back to source extraction when that fails. ``force`` rebuilds
        without reading the stored index; the stored one is replaced only when the build
        succeeds (a failed build, say of dense vectors, keeps it).
        """
        project_root = Path(project_root).resolve()
        folder = store.index_dir(project_root, cache_root)
        idx = cls(project_root, folder, encoder)
        idx.use_lean = lean
        idx._roots = discover_roots(project_root, include_toolchain=include_toolchain)
        try:
            if force:
                raise store.IndexCorrupt("a rebuild was asked for")
            idx._load()
            if encoder is not None and idx._dense is None:
                raise store.IndexCorrupt("no vectors for the configured encoder")
            idx._refresh_changed(progress)
            return idx
        except store.IndexCorrupt as e:
            idx.rebuilt_reason = str(e)
            log.warning("premise index at %s unusable (%s); %s", folder, e, "rebuilding" if build else "empty")
        except Exception as e:  # never crash the caller over a stored index
            idx.rebuilt_reason = f"load failed: {e!r}"
            log.exception("premise index at %s failed to load; rebuilding", folder)
        if build:
            idx.rebuild(progress)
        else:
            idx._install([], [], np.zeros(0, np.int32), np.zeros(0, np.int32), None)
        return idx

    def rebuild(self, progress: Progress | None = None) -> None:
        """Extract every file of every root again and write a fresh snapshot."""
        t0 = time.perf_counter()
        files = list_files(self._roots)
        results = extract_files(
            [(f, r) for f, r, _ in files], progress=(lambda d, t: progress("extract", d, t)) if progress else None
        )
        if self.use_lean:
            self._replace_with_lean(files, results)
        infos: list[store.FileInfo] = []
        decls: list[Declaration] = []
        doc_file: list[int] = []
        doc_line: list[int] = []
        for (path, root, kind), res in zip(files, results):
            info = _file_info(path, root, kind, res)
            if res.error:
                log.warning("skipped %s: %s", path, res.error)
            fid = len(infos)
            infos.append(info)
            decls += res.declarations
            doc_file += [fid] * len(res.declarations)
            doc_line += [d.line for d in res.declarations]
        if progress:
            progress("lexical", 0, 1)
        base = build_base([document_tokens(d) for d in decls])
        if progress:
            progress("lexical", 1, 1)
        vectors = None
        if self.encoder is not None:
            texts = [document_text(d) for d in decls]
            vectors = encode_all(self.encoder, texts, progress=(lambda d, t: progress("dense", d, t)) if progress else None)
        if progress:
            progress("proofs", 0, 1)
        model = PremiseModel.build(decls)
        if progress:
            progress("proofs", 1, 1)
        # the base keeps resolved premises (the model's arrays), not the raw references
        decls = [msgspec.structs.replace(d, refs=(), opens=()) if d.refs else d for d in decls]
        manifest = store.Manifest(
            format_version=store.FORMAT_VERSION,
            extractor_version=EXTRACTOR_VERSION,
            encoder_id=getattr(self.encoder, "id", None),
            project_root=str(self.project_root),
            created=time.time(),
            n_docs=len(decls),
            files=infos,
            roots=[(str(r.path), r.kind) for r in self._roots],
            build_seconds=self.build_seconds,
        )
        lex = LexicalIndex(base)
        orders = _name_orders(decls)
        self._install(
            infos, decls, np.asarray(doc_file, np.int32), np.asarray(doc_line, np.int32), vectors, lex, orders, model
        )
        with self._lock:
            model.fit(self._corpus(), self._training_query, progress)
        self.build_seconds = time.perf_counter() - t0
        manifest.build_seconds = self.build_seconds

        def write_extra(folder: Path) -> None:
            lex.save_base(folder)
            model.write_meta(folder)

        try:
            store.write_snapshot(
                self.folder, manifest, decls, np.asarray(doc_file, np.int32), np.asarray(doc_line, np.int32),
                write_extra, vectors, extra_arrays={**orders, **model.arrays()},
            )
        except OSError as e:  # an unwritable cache still gives a working in-memory index
            log.warning("could not write the premise index to %s: %s", self.folder, e)

    def _replace_with_lean(self, files: list[tuple[Path, Path, str]], results: list[FileResult]) -> None:
        """Swap the project's source-extracted declarations for Lean's own, module by module."""
        import msgspec

        from .extract_lean import LeanExtractionError, run_dump

        project = {res.module: res for (_, _, kind), res in zip(files, results) if kind == "project" and not res.error}
        try:
            dumped = run_dump(self.project_root, sorted(project))
        except LeanExtractionError as e:
            log.warning("Lean-backed extraction failed, keeping source extraction: %s", e)
            return
        by_module: dict[str, list[Declaration]] = {}
        for d in dumped:
            if d.module in project:
                by_module.setdefault(d.module, []).append(msgspec.structs.replace(d, file=project[d.module].file))
        for module, decls in by_module.items():
            project[module].declarations = decls

    def _load(self) -> None:
        folder = self.folder
        if not (folder / "manifest.json").exists():
            raise store.IndexCorrupt("no index yet")
        m = store.read_manifest(folder)
        if m.roots != [(str(r.path), r.kind) for r in self._roots]:
            raise store.IndexCorrupt("the project's source roots changed")
        enc_id = getattr(self.encoder, "id", None)
        decls, doc_file, doc_line = store.read_decls(folder, m.n_docs)
        vectors = None
        if enc_id is not None and m.encoder_id == enc_id:
            vectors = store.read_vectors(folder, m.n_docs)
        try:
            lex = LexicalIndex(LexicalIndex.load_base(folder))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise store.IndexCorrupt(f"lexical index unreadable: {e}") from e
        if lex.base.n_docs != m.n_docs:
            raise store.IndexCorrupt("lexical index and declarations disagree")
        if len(doc_file) and int(doc_file.max()) >= len(m.files):
            raise store.IndexCorrupt("declarations refer to unknown files")
        orders = {name: store.read_array(folder, name, m.n_docs) for name in ("order_full", "order_short")}
        try:
            model = PremiseModel.load(folder, m.n_docs)
        except (OSError, ValueError, KeyError, TypeError, msgspec.DecodeError) as e:
            raise store.IndexCorrupt(f"learned ranker unreadable: {e}") from e
        self.build_seconds = m.build_seconds
        self._install(m.files, decls, doc_file, doc_line, vectors, lex, orders, model)
        model.names(decls)  # the name table proofs resolve against: now, not on the first save
        delta = store.read_delta(folder)
        with self._lock:
            self._delta = delta
            for info in delta.files.values():
                self._ensure_file(info)
            self._apply_delta()

    def _install(
        self, infos, decls, doc_file, doc_line, vectors, lex: LexicalIndex | None = None, orders=None,
        model: PremiseModel | None = None,
    ) -> None:
        with self._lock:
            self._model = model
            self._orders = orders if orders is not None else _name_orders(decls)
            self._files = list(infos)
            self._file_id = {f.path: i for i, f in enumerate(self._files)}
            self._base_decls = decls
            self._base_file = doc_file
            self._base_line = doc_line
            self._lexical = lex or LexicalIndex(build_base([document_tokens(d) for d in decls]))
            self._dense = DenseIndex(vectors) if vectors is not None else None
            self._delta = store.Delta(files={}, decls={}, removed=[])
            self._apply_delta()

    # ------------------------------------------------------------------ incremental updates

    def _ensure_file(self, info: store.FileInfo) -> int:
        fid = self._file_id.get(info.path)
        if fid is None:
            fid = len(self._files)
            self._files.append(info)
            self._file_id[info.path] = fid
        else:
            self._files[fid] = info
        return fid

    def _apply_delta(self) -> None:
        """Recompute tombstones, delta documents and their arrays from ``self._delta``."""
        changed = set(self._delta.decls) | set(self._delta.removed)
        changed_ids = np.asarray([self._file_id[p] for p in changed if p in self._file_id], np.int32)
        tomb = np.isin(self._base_file, changed_ids) if len(changed_ids) else np.zeros(len(self._base_file), bool)
        ddecls: list[Declaration] = []
        dfile: list[int] = []
        for path, decls in self._delta.decls.items():
            fid = self._file_id[path]
            ddecls += decls
            dfile += [fid] * len(decls)
        self._delta_decls = ddecls
        self._delta_file = np.asarray(dfile, np.int32)
        self._delta_line = np.asarray([d.line for d in ddecls], np.int32)
        assert self._lexical is not None
        self._lexical.tombstones = tomb
        self._lexical.replace([], [document_tokens(d) for d in ddecls])
        if self._dense is not None:
            self._dense.set_delta(self._encode_delta(ddecls))
        self._alive = np.concatenate([~tomb, np.ones(len(ddecls), bool)])
        self._file_docs_cache = None
        self._allowed_cache = {}
        self._all_file = np.concatenate([self._base_file, self._delta_file])
        self._all_line = np.concatenate([self._base_line, self._delta_line])
        if self._model is not None:
            self._model.apply_delta(self._base_decls, ddecls, tomb, self._corpus, self._training_query)
        self._graph = None
        self._mask_cache.clear()

    def _encode_delta(self, ddecls: list[Declaration]) -> np.ndarray:
        cache = getattr(self, "_delta_vec_cache", {})
        missing = [d for d in ddecls if (d.name, d.signature) not in cache]
        if missing and self.encoder is not None:
            vecs = self.encoder.encode([document_text(d) for d in missing])
            for d, v in zip(missing, vecs):
                cache[(d.name, d.signature)] = np.asarray(v, np.float32)
        self._delta_vec_cache = cache
        dim = self._dense.dim if self._dense else 0
        if not ddecls:
            return np.zeros((0, dim), np.float32)
        return np.stack([cache.get((d.name, d.signature), np.zeros(dim, np.float32)) for d in ddecls])

    def _root_for(self, path: Path) -> tuple[Path, str]:
        best: SourceRoot | None = None
        for r in self._roots:
            try:
                path.relative_to(r.path)
            except ValueError:
                continue
            if best is None or len(str(r.path)) > len(str(best.path)):
                best = r
        if best is None:
            raise ValueError(f"{path} is not inside the project {self.project_root}")
        return best.path, best.kind

    def update_file(self, path: Path) -> int:
        """Re-extract ``path`` and replace its declarations; returns how many it now has.

        A file that no longer lexes (say, mid-edit with an open comment) keeps its previous
        declarations and is counted as skipped. A missing file is removed.
        """
        path = Path(path).resolve()
        if not path.exists():
            self.remove_file(path)
            return 0
        root, kind = self._root_for(path)
        res = extract_file(path, root)
        with self._lock:
            info = _file_info(path, root, kind, res)
            if res.error:
                log.warning("skipped %s: %s", path, res.error)
                fid = self._file_id.get(str(path))
                if fid is not None:  # keep the declarations; record the error
                    old = self._files[fid]
                    self._files[fid] = store.FileInfo(
                        old.path, old.root, old.kind, old.module, info.mtime_ns, info.size,
                        old.prelude, old.imports, res.error,
                    )
                    self._delta.files[str(path)] = self._files[fid]
                    self._save_delta()
                    return self._count_file(fid)
            self._ensure_file(info)
            self._delta.files[str(path)] = info
            self._delta.decls[str(path)] = res.declarations
            if str(path) in self._delta.removed:
                self._delta.removed.remove(str(path))
            self._apply_delta()
            self._save_delta()
            return len(res.declarations)

    def remove_file(self, path: Path) -> None:
        """Forget every declaration of ``path`` (deleted or renamed away)."""
        key = str(Path(path).resolve())
        with self._lock:
            fid = self._file_id.get(key)
            if fid is None:
                return
            self._delta.decls.pop(key, None)
            self._delta.files.pop(key, None)
            if key not in self._delta.removed:
                self._delta.removed.append(key)
            old = self._files[fid]
            self._files[fid] = store.FileInfo(old.path, old.root, old.kind, old.module, -1, -1, False, [], "removed")
            self._apply_delta()
            self._save_delta()

    def _count_file(self, fid: int) -> int:
        return int(np.count_nonzero(self._base_file[self._alive[: len(self._base_file)]] == fid)) + int(
            np.count_nonzero(self._delta_file == fid)
        )

    def _save_delta(self) -> None:
        try:
            if (self.folder / "manifest.json").exists():
                store.write_delta(self.folder, self._delta)
        except OSError as e:
            log.warning("could not save the premise index delta: %s", e)

    def _refresh_changed(self, progress: Progress | None) -> None:
        """Bring files changed on disk since the snapshot (or the last delta) up to date."""
        current = {str(f.resolve()): (f, r, k) for f, r, k in list_files(self._roots)}
        changed: list[Path] = []
        with self._lock:
            known = {f.path: f for f in self._files if f.error != "removed"}
        for key, (f, _, _) in current.items():
            info = known.get(key)
            st = f.stat()
            if info is None or info.mtime_ns != st.st_mtime_ns or info.size != st.st_size:
                changed.append(f)
        gone = [Path(k) for k in known if k not in current]
        if len(changed) + len(gone) > max(200, len(current) // 5):
            raise store.IndexCorrupt(f"{len(changed) + len(gone)} files changed since the index was built")
        for i, f in enumerate(changed):
            self.update_file(f)
            if progress:
                progress("update", i + 1, len(changed))
        for g in gone:
            self.remove_file(g)

    # ------------------------------------------------------------------ search

    def _decl(self, doc: int) -> Declaration:
        nb = len(self._base_decls)
        return self._base_decls[doc] if doc < nb else self._delta_decls[doc - nb]

    def _doc_file(self) -> np.ndarray:
        return self._all_file

    def _doc_line(self) -> np.ndarray:
        return self._all_line

    def _import_graph(self) -> dict[str, list[str]]:
        if self._graph is None:
            self._graph = {f.module: f.imports for f in self._files if f.error != "removed"}
        return self._graph

    def module_of(self, file: Path) -> tuple[str, list[str], bool]:
        """Module name, imports and prelude flag of ``file`` (read from disk if not indexed)."""
        key = str(Path(file).resolve())
        fid = self._file_id.get(key)
        if fid is not None and self._files[fid].error != "removed":
            f = self._files[fid]
            return f.module, list(f.imports), f.prelude
        path = Path(key)
        try:
            root, _ = self._root_for(path)
        except ValueError:
            root = path.parent
        res = extract_file(path, root) if path.exists() else FileResult(path.name, module_name(path.name))
        return module_name(path.relative_to(root).as_posix()), res.imports, res.prelude

    def _access(self, file: Path, line: int | None) -> tuple[np.ndarray, int | None, int | None, str]:
        """(allowed file ids as a bool array, the file's id, the cursor line, its module)."""
        key = str(Path(file).resolve())
        module, imports, prelude = self.module_of(Path(key))
        cache_key = (module, tuple(imports), prelude, len(self._files))
        allowed_file = self._mask_cache.get(cache_key)
        if allowed_file is None:
            graph = self._import_graph()
            if graph.get(module) != imports:
                graph = {**graph, module: imports}
            visible = import_closure(module, graph) - {module}
            if not prelude:
                visible |= import_closure("Init", graph)
            allowed_file = np.asarray(
                [f.module in visible and f.error != "removed" for f in self._files], dtype=bool
            )
            if len(self._mask_cache) > 256:
                self._mask_cache.clear()
            self._mask_cache[cache_key] = allowed_file
        return allowed_file, self._file_id.get(key), line, module

    def _visible(self, docs: np.ndarray, access) -> np.ndarray:
        """Which of ``docs`` are alive and visible under ``access`` (see ``_access``)."""
        allowed_file, fid, line, _ = access
        files = self._all_file[docs]
        ok = allowed_file[files] if len(allowed_file) else np.zeros(len(docs), bool)
        if fid is not None:
            same = files == fid
            if line is not None:
                same &= self._all_line[docs] < line
            ok |= same
        return ok & self._alive[docs]

    def accessible_mask(self, file: Path, line: int | None) -> np.ndarray:
        """Documents visible at ``line`` of ``file``: its import closure plus its own lines above."""
        with self._lock:
            return self._visible(np.arange(len(self._alive)), self._access(file, line))

    # ------------------------------------------------------------------ learned ranking

    def _corpus(self):
        assert self._model is not None
        return self._model.corpus(self._decl, self._all_file, self._all_line)

    def _training_query(self, doc: int) -> Query:
        """Declaration ``doc``'s statement as a query at its own position, its own proof hidden."""
        assert self._lexical is not None and self._model is not None
        d = self._decl(doc)
        fid = int(self._all_file[doc])
        allowed = self._alive & ~((self._all_file == fid) & (self._all_line >= d.line))
        allowed[doc] = False
        return Query(
            features=declaration_features(d),
            lex=self._lexical.scores(statement_query_tokens(d.signature) + module_tokens(d.module)),
            allowed=allowed, file_id=fid, line=d.line, namespace=namespace_of(d.name),
            key=int(self._model.key[doc]), hide=doc, name=d.name,
        )

    def _file_docs(self, fid: int) -> np.ndarray:
        """The live documents of file ``fid`` (a file-sorted order, cached until the next delta)."""
        if self._file_docs_cache is None:
            order = np.argsort(self._all_file, kind="stable")
            bounds = np.searchsorted(self._all_file[order], np.arange(len(self._files) + 1))
            self._file_docs_cache = (order, bounds)
        order, bounds = self._file_docs_cache
        if fid + 1 >= len(bounds):
            return np.zeros(0, np.int64)
        docs = order[bounds[fid] : bounds[fid + 1]]
        return docs[self._alive[docs]]

    def _allowed_mask(self, access) -> np.ndarray:
        """``_visible`` for every document, with the import part cached per file mask."""
        allowed_file, fid, line, _ = access
        key = (id(allowed_file), len(self._alive))
        cached = self._allowed_cache.get(key)
        if cached is not None and cached[0] is allowed_file:  # holding it keeps its id unique
            base = cached[1]
        else:
            base = (allowed_file[self._all_file] if len(allowed_file) else np.zeros(len(self._alive), bool)) & self._alive
            if len(self._allowed_cache) > 8:
                self._allowed_cache.clear()
            self._allowed_cache[key] = (allowed_file, base)
        mask = base.copy()
        if fid is not None:
            docs = self._file_docs(fid)
            mask[docs] = True if line is None else self._all_line[docs] < line
        return mask

    def _namespace_at(self, fid: int | None, line: int | None) -> str:
        """The namespace at ``line`` of file ``fid``, read off the nearest theorem/def above it."""
        if fid is None:
            return ""
        docs = self._file_docs(fid)
        if line is not None:
            docs = docs[self._all_line[docs] < line]
        for doc in docs[np.argsort(-self._all_line[docs], kind="stable")][:8].tolist():
            d = self._decl(doc)
            words = d.signature.split(maxsplit=2)
            if d.kind in ("theorem", "def", "abbrev", "instance") and len(words) > 1:
                written = words[1].removeprefix("_root_.")
                if d.name.endswith(written):
                    return d.name[: -len(written)].rstrip(".")
        return ""

    def _learned(self, text: str, lex: np.ndarray, dense_text: str, k: int, access, line: int | None) -> list[PremiseHit]:
        """Rank with the learned signals and fusion (``learned.rank``)."""
        assert self._model is not None
        fid = access[1] if access is not None else None
        namespace = self._namespace_at(fid, line)
        name = ""
        if looks_like_statement(text):
            written = split_statement(text.strip())[0].removeprefix("_root_.")
            name = f"{namespace}.{written}" if namespace and written else written
        dense = None
        if self._dense is not None and self.encoder is not None and dense_text.strip():
            dense = self._dense.scores(self.encoder.encode([dense_text])[0])
        allowed = self._allowed_mask(access) if access is not None else self._alive
        q = Query(
            features=query_features(text, name), lex=lex, allowed=allowed, file_id=fid, line=line,
            namespace=namespace, key=key_hash(statement_key(text)), dense=dense, name=name,
            file_docs=self._file_docs(fid) if fid is not None else None,
        )
        ranked = learned_rank(self._corpus(), q, self._model.fusion, k)
        return [PremiseHit.from_declaration(self._decl(d), s) for d, s in ranked]

    def _rank(
        self, lex_tokens: list[str], dense_text: str, k: int, file: Path | None, line: int | None, text: str = ""
    ) -> list[PremiseHit]:
        with self._lock:
            assert self._lexical is not None
            access = self._access(file, line) if file is not None else None
            if access is not None:
                lex_tokens = lex_tokens + module_tokens(access[3])
            lex = self._lexical.scores(lex_tokens)
            # statements and goals: what proofs of such statements use (the learned signals);
            # plain words are a lexical (and dense) search
            if self.learned and self._model is not None and (looks_like_goal(text) or looks_like_statement(text)):
                return self._learned(text, lex, dense_text, k, access, line)
            use_dense = self._dense is not None and self.encoder is not None and dense_text.strip()
            if not use_dense:
                # lexical only: filter and boost just the documents the query touched
                cand = np.flatnonzero(lex > 0)
                cand = cand[self._visible(cand, access)] if access is not None else cand[self._alive[cand]]
                vals = lex[cand]
                if access is not None and access[1] is not None:
                    vals = vals * np.where(self._all_file[cand] == access[1], 1.0 + SAME_FILE_BOOST, 1.0)
                part = best_positions(vals, k)
                ranked = [(int(cand[i]), float(vals[i])) for i in part]
            else:
                mask = self.accessible_mask(file, line) if file is not None else self._alive
                same_file = None
                if access is not None and access[1] is not None:
                    same_file = self._all_file == access[1]
                den = self._dense.scores(self.encoder.encode([dense_text])[0])
                ranked = rank_documents(lex, den, mask, k, self.fusion, same_file=same_file, depth=FUSION_DEPTH)
            ranked = self._exact_first(ranked, text, access, k)
            return [PremiseHit.from_declaration(self._decl(i), s) for i, s in ranked]

    def _exact_first(self, ranked: list[tuple[int, float]], text: str, access, k: int) -> list[tuple[int, float]]:
        """Put declarations whose statement is the query's (up to variable names) first (issue 12)."""
        if self._model is None or not text.strip():
            return ranked
        qkey = key_hash(statement_key(text))
        if not qkey:
            return ranked
        exact = np.flatnonzero(self._model.key == qkey)
        exact = exact[self._visible(exact, access)] if access is not None else exact[self._alive[exact]]
        if not len(exact):
            return ranked
        top = (ranked[0][1] if ranked else 0.0) + 1.0
        ids = {int(d) for d in exact[:k]}
        return [(d, top) for d in sorted(ids)] + [(d, s) for d, s in ranked if d not in ids][: k - len(ids)]

    def search(self, query: str, k: int = 32, *, file: Path | None = None, line: int | None = None) -> list[PremiseHit]:
        """Best ``k`` declarations for ``query`` (goal, statement or words), best first.

        With ``file``, only declarations that file can use are returned (its imports,
        transitively, and its own declarations above ``line``).
        """
        return self._rank(query_tokens(query), dense_query_text(query), k, file, line, query)

    def search_goal(self, goal_text: str, k: int = 32, *, file: Path | None = None, line: int | None = None) -> list[PremiseHit]:
        """Like ``search`` for a pretty-printed goal state (hypotheses, then ``⊢ target``)."""
        g = goal_text if "⊢" in goal_text else f"⊢ {goal_text}"
        return self._rank(goal_query_tokens(g), dense_query_text(g), k, file, line, g)

    def search_prefix(self, prefix: str, k: int = 32) -> list[PremiseHit]:
        """Declarations whose full name (or, failing that, last component) starts with ``prefix``.

        Full-name matches (score 1.0) come before last-component ones (0.5); shorter names first.
        Base documents are found by binary search in name orders stored with the snapshot;
        delta documents (few) are scanned.
        """
        with self._lock:
            found: dict[int, float] = {}
            limit = 4 * k + 64
            nb = len(self._base_decls)
            for order_name, key_fn, score in (
                ("order_full", _full_key, 1.0),
                ("order_short", _short_key, 0.5),
            ):
                order = self._orders[order_name]
                lo, hi = 0, len(order)
                while lo < hi:
                    mid = (lo + hi) // 2
                    if key_fn(self._base_decls[int(order[mid])].name) < prefix:
                        lo = mid + 1
                    else:
                        hi = mid
                taken = 0
                for i in range(lo, len(order)):
                    doc = int(order[i])
                    if not key_fn(self._base_decls[doc].name).startswith(prefix) or taken >= limit:
                        break
                    if self._alive[doc] and doc not in found:
                        found[doc] = score
                        taken += 1
                for j, d in enumerate(self._delta_decls):
                    if key_fn(d.name).startswith(prefix) and nb + j not in found:
                        found[nb + j] = score
                if len(found) >= k:
                    break
            best = sorted(found.items(), key=lambda kv: (-kv[1], len(self._decl(kv[0]).name), self._decl(kv[0]).name))
            return [PremiseHit.from_declaration(self._decl(d), s) for d, s in best[:k]]

    # ------------------------------------------------------------------ watching / stats

    def start_watching(self, debounce: float = 0.3) -> None:
        """Watch the project's ``.lean`` files and update the index on save, delete and rename."""
        from .watch import ProjectWatcher

        with self._lock:
            if self._watcher is None:
                self._watcher = ProjectWatcher(self, debounce=debounce)
                self._watcher.start()

    def stop_watching(self) -> None:
        """Stop the watcher started by ``start_watching`` (no-op if none)."""
        with self._lock:
            w, self._watcher = self._watcher, None
        if w is not None:
            w.stop()

    def stats(self) -> dict:
        """Counts: declarations (alive), by kind, files by root kind, skipped files, delta size."""
        with self._lock:
            alive = int(self._alive.sum())
            kinds: dict[str, int] = {}
            for i in np.flatnonzero(self._alive).tolist():
                kd = self._decl(i).kind
                kinds[kd] = kinds.get(kd, 0) + 1
            files_by_kind: dict[str, int] = {}
            skipped = {}
            for f in self._files:
                if f.error == "removed":
                    continue
                files_by_kind[f.kind] = files_by_kind.get(f.kind, 0) + 1
                if f.error:
                    skipped[f.path] = f.error
            return {
                "project": str(self.project_root),
                "index_dir": str(self.folder),
                "declarations": alive,
                "by_kind": dict(sorted(kinds.items())),
                "files": sum(files_by_kind.values()),
                "files_by_root": files_by_kind,
                "skipped_files": len(skipped),
                "skipped": skipped,
                "delta_files": len(self._delta.decls) + len(self._delta.removed),
                "dense": self._dense is not None,
                "encoder": getattr(self.encoder, "id", None),
                "build_seconds": round(self.build_seconds, 3),
                "rebuilt_reason": self.rebuilt_reason,
                **self._learned_stats(),
            }

    def _learned_stats(self) -> dict:
        m = self._model
        if m is None:
            return {"proofs": 0, "fusion": "none"}
        proved = m.graph.proved()
        return {
            "proofs": int((proved[: len(self._alive)] & self._alive[: len(proved)]).sum()),
            "premise_edges": m.graph.edges(),
            "fusion": f"learned on {m.fusion.fitted_on} proofs" if m.fusion.fitted_on else "fixed weights",
        }


def _full_key(name: str) -> str:
    return name


def _short_key(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _name_orders(decls: list[Declaration]) -> dict[str, np.ndarray]:
    """Document ids sorted by full name and by last name component (for prefix search)."""
    full = [d.name for d in decls]
    short = [_short_key(n) for n in full]
    return {
        "order_full": np.asarray(sorted(range(len(full)), key=full.__getitem__), np.int64),
        "order_short": np.asarray(sorted(range(len(short)), key=short.__getitem__), np.int64),
    }


def _file_info(path: Path, root: Path, kind: str, res: FileResult) -> store.FileInfo:
    try:
        st = path.stat()
        mtime, size = st.st_mtime_ns, st.st_size
    except OSError:
        mtime, size = -1, -1
    return store.FileInfo(
        path=str(path.resolve()), root=str(root), kind=kind, module=res.module, mtime_ns=mtime, size=size,
        prelude=res.prelude, imports=list(res.imports), error=res.error,
    )
