"""Check a GGUF file's structure without llama.cpp: header, metadata, tensor table and length.

:func:`inspect_gguf` reads the header, skips the metadata key/value pairs, reads the tensor
table and computes where the tensor data must end; a file shorter than that is truncated (an
interrupted download or copy). It needs neither llama-cpp-python nor numpy, so a broken file is
blamed on the file even where the GGUF backend is not installed. Layout:
https://github.com/ggml-org/ggml/blob/master/docs/gguf.md (little-endian; versions 2 and 3).
"""
from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

#: ggml tensor type → (elements per block, bytes per block), from ggml's type traits
#: (gguf-py ``GGML_QUANT_SIZES``). Unknown types only bound the size by their offset.
GGML_BLOCKS: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 40),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110),
    22: (256, 82), 23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8),
    29: (256, 56), 30: (1, 2), 34: (256, 54), 35: (256, 66), 39: (32, 17),
}
#: Fixed sizes of the scalar metadata value types (8 = string and 9 = array are variable).
_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
VERSIONS = (2, 3)
MAX_COUNT = 1 << 32  # sanity bound on tensor / key counts and array lengths


class GGUFFileError(ValueError):
    """The file is not a usable GGUF file; the message names the file and what to do."""

    def __init__(self, message: str) -> None:
        if " is corrupt" in message and "download" not in message:
            message += "; the file is damaged: download it again"
        super().__init__(message)


@dataclass(frozen=True)
class GGUFInfo:
    """What the structure check found."""

    version: int
    n_tensors: int
    n_kv: int
    architecture: str | None
    data_offset: int
    required_size: int  # bytes the file must have for every tensor to be complete
    file_size: int


class _Reader:
    def __init__(self, buf: mmap.mmap | bytes, path: Path) -> None:
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if n < 0 or end > len(self.buf):
            raise _Short(end)
        out = self.buf[self.pos:end]
        self.pos = end
        return bytes(out)

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.take(8))[0])

    def string(self) -> bytes:
        n = self.u64()
        if n > MAX_COUNT:
            raise GGUFFileError(f"{self.path} is corrupt: a metadata string claims {n} bytes")
        return self.take(n)

    def skip_value(self, kind: int) -> None:
        if kind in _SCALAR:
            self.take(_SCALAR[kind])
        elif kind == 8:
            self.string()
        elif kind == 9:
            inner, count = self.u32(), self.u64()
            if count > MAX_COUNT:
                raise GGUFFileError(f"{self.path} is corrupt: a metadata array claims {count} items")
            if inner in _SCALAR:
                self.take(_SCALAR[inner] * count)
            else:
                for _ in range(count):
                    self.skip_value(inner)
        else:
            raise GGUFFileError(f"{self.path} is corrupt: unknown metadata value type {kind}")


class _Short(Exception):
    """The structure runs past the end of the file."""

    def __init__(self, needed: int) -> None:
        super().__init__(needed)
        self.needed = needed


def _truncated(path: Path, size: int, needed: int, what: str) -> GGUFFileError:
    return GGUFFileError(
        f"{path} is truncated: {size:,} bytes, but its {what} needs at least {needed:,}; "
        "the download or copy was interrupted: download it again")


def inspect_gguf(path: str | Path) -> GGUFInfo:
    """Check ``path``'s GGUF structure and length; raise :class:`GGUFFileError` saying what is wrong."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise GGUFFileError(f"{path} is empty (an interrupted download?): download it again")
    with path.open("rb") as handle:
        head = handle.read(24)
        if head[:4] != b"GGUF":
            raise GGUFFileError(f"{path} is not a GGUF file (it starts with {head[:8]!r})")
        if len(head) < 24:
            raise _truncated(path, size, 24, "header")
        buf: mmap.mmap | bytes = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        return _inspect(_Reader(buf, path), path, size)
    finally:
        if isinstance(buf, mmap.mmap):
            buf.close()


def _inspect(r: _Reader, path: Path, size: int) -> GGUFInfo:
    r.take(4)
    version = r.u32()
    if version not in VERSIONS:
        raise GGUFFileError(f"{path} has GGUF version {version}; llama.cpp reads versions 2 and 3")
    n_tensors, n_kv = r.u64(), r.u64()
    if n_tensors > MAX_COUNT or n_kv > MAX_COUNT:
        raise GGUFFileError(f"{path} is corrupt: its header claims {n_tensors} tensors and {n_kv} keys")
    alignment, arch = 32, None
    try:
        for _ in range(n_kv):
            key = r.string()
            kind = r.u32()
            if key == b"general.alignment" and kind == 4:
                alignment = r.u32()
            elif key == b"general.architecture" and kind == 8:
                arch = r.string().decode("utf-8", "replace")
            else:
                r.skip_value(kind)
    except _Short as short:
        raise _truncated(path, size, short.needed, "metadata") from None
    if alignment == 0 or alignment & (alignment - 1):
        raise GGUFFileError(f"{path} is corrupt: general.alignment is {alignment}, not a power of two")
    end = 0
    try:
        for _ in range(n_tensors):
            r.string()
            n_dims = r.u32()
            if n_dims > 8:
                raise GGUFFileError(f"{path} is corrupt: a tensor claims {n_dims} dimensions")
            elements = 1
            for _ in range(n_dims):
                elements *= r.u64()
            kind, offset = r.u32(), r.u64()
            block = GGML_BLOCKS.get(kind)
            nbytes = (elements // block[0]) * block[1] if block else 1
            end = max(end, offset + nbytes)
    except _Short as short:
        raise _truncated(path, size, short.needed, "tensor table") from None
    data_offset = -(-r.pos // alignment) * alignment
    required = data_offset + end
    if size < required:
        raise _truncated(path, size, required, f"{n_tensors} tensors")
    return GGUFInfo(version, n_tensors, n_kv, arch, data_offset, required, size)
