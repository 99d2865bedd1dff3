"""Readers of weight-file containers, and the interface of a published-format importer.

This module parses containers (a MATLAB ``.mat``, an MXNet ``.params``) into plain arrays; it
knows no method. What the arrays mean for an architecture is the method's own knowledge: each
method module registers :class:`Importer` objects in its spec's ``importers``, and
:func:`benchmark.weights.import_weights` dispatches through them. Nothing here unpickles.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple

import numpy as np

if TYPE_CHECKING:  # torch is imported by the callers that build tensors
    import torch

    from benchmark.registry import MethodSpec

#: Container kinds :func:`sniff` names that importers can read (see :func:`read_container`).
CONTAINERS = ("mat5", "mxnet")


class WeightsError(ValueError):
    """A weight file that cannot be used: wrong method or config, corrupt, or unsafe.

    The message is always one line naming the file and the reason.
    """


class Converted(NamedTuple):
    """What an importer makes of a file: tensors under the method's keys, the config those
    tensors need (full or partial), and notes for the user (warned and kept in the meta)."""

    state: dict[str, torch.Tensor]
    config: dict[str, Any]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Importer:
    """One published weight format of a method.

    Attributes
    ----------
    container : str
        The container kind holding the format, one of :data:`CONTAINERS`.
    detect : callable
        ``detect(contents) -> bool``: whether a container's contents (variable or array name
        -> value, from :func:`read_container`) are in this format.
    convert : callable
        ``convert(path, contents, spec) -> Converted`` for the method ``spec``; raises
        :class:`WeightsError` when the contents do not fit it.
    """

    container: str
    detect: Callable[[Mapping[str, Any]], bool]
    convert: Callable[[Path, Mapping[str, Any], MethodSpec], Converted]


def sniff(head: bytes) -> str:
    """Name of the container format from a file's first bytes (no parsing beyond that)."""
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle"
    if head[:4] == b"PK\x03\x04":
        return "zip"  # torch.save's default format: a zip holding a pickle
    if head[:19] == b"MATLAB 5.0 MAT-file":
        return "mat5"
    if head[:8] == b"\x89HDF\r\n\x1a\n" or head[512:520] == b"\x89HDF\r\n\x1a\n":
        return "hdf5"  # includes MATLAB v7.3 files (HDF5 after a 512-byte text header)
    if len(head) >= 16 and struct.unpack("<QQ", head[:16]) == (0x112, 0):
        return "mxnet"
    if len(head) >= 10 and head[8:10] == b'{"':
        return "safetensors"
    return "unknown"


def read_head(path: Path, n: int = 1024) -> bytes:
    """The first ``n`` bytes of ``path``; :class:`WeightsError` when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read ({exc.strerror or exc})") from None


def read_container(path: Path, kind: str) -> dict[str, Any]:
    """The contents of a ``kind`` container (one of :data:`CONTAINERS`), name -> value."""
    if kind == "mxnet":
        return read_mxnet_params(path)
    if kind != "mat5":
        raise ValueError(f"not an importable container: {kind!r}")
    import scipy.io  # lazy: only .mat files need scipy

    try:
        return scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises several types for damaged files
        raise WeightsError(f"{path}: unreadable MAT file ({exc})") from None


def as_tensor(a: np.ndarray) -> torch.Tensor:
    """A contiguous float32 tensor of ``a`` (importers' tensors are float32 like the models')."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def read_mxnet_params(path: str | Path) -> dict[str, np.ndarray]:
    """Parse an MXNet ``NDArray::Save`` file (``*.params``) without MXNet; dense arrays only.

    Layout (little-endian): u64 magic 0x112, u64 reserved, u64 count, ``count`` arrays, u64
    name count, names as (u64 length, bytes). An array: u32 magic (V1 0xF993FAC8, V2 0xF993FAC9,
    V3 0xF993FACA; older files start directly with the shape), for V2/V3 an i32 storage type
    (0 = dense), the shape (u32 ndim, then int64 dims; legacy files uint32 dims), then i32
    device type, i32 device id, i32 dtype flag and the raw data.
    """
    path = Path(path)
    data = path.read_bytes()
    pos = 0

    def take(fmt: str) -> tuple:
        nonlocal pos
        size = struct.calcsize(fmt)
        if pos + size > len(data):
            raise WeightsError(f"{path}: truncated MXNet params file at byte {pos}")
        out = struct.unpack_from(fmt, data, pos)
        pos += size
        return out

    dtypes = {0: np.float32, 1: np.float64, 2: np.float16, 3: np.uint8, 4: np.int32, 5: np.int8, 6: np.int64}
    magic, _reserved = take("<QQ")
    if magic != 0x112:
        raise WeightsError(f"{path}: not an MXNet NDArray file (magic {magic:#x})")
    (count,) = take("<Q")
    if count > 1_000_000:
        raise WeightsError(f"{path}: corrupt MXNet params file (array count {count})")
    arrays = []
    for _ in range(count):
        (head,) = take("<I")
        if head in (0xF993FAC9, 0xF993FACA):
            (stype,) = take("<i")
            if stype != 0:
                raise WeightsError(f"{path}: sparse MXNet arrays are not supported")
            (ndim,) = take("<I")
            shape = take(f"<{min(ndim, 33)}q")
        elif head == 0xF993FAC8:
            (ndim,) = take("<I")
            shape = take(f"<{min(ndim, 33)}q")
        else:  # legacy: no magic, the word read is ndim, dims are uint32
            ndim = head
            if ndim > 32:
                raise WeightsError(f"{path}: corrupt MXNet params file (ndim {ndim})")
            shape = take(f"<{ndim}I")
        if ndim > 32 or any(d < 0 for d in shape):
            raise WeightsError(f"{path}: corrupt MXNet params file (shape {shape})")
        if ndim == 0:
            arrays.append(np.zeros((0,), np.float32))
            continue
        _dev_type, _dev_id, flag = take("<iii")
        if flag not in dtypes:
            raise WeightsError(f"{path}: unsupported MXNet dtype flag {flag}")
        dtype = np.dtype(dtypes[flag]).newbyteorder("<")
        n = math.prod(shape)
        nbytes = n * dtype.itemsize
        if pos + nbytes > len(data):
            raise WeightsError(f"{path}: truncated MXNet params file (array data)")
        arrays.append(np.frombuffer(data, dtype, n, pos).reshape(shape).copy())
        pos += nbytes
    (n_names,) = take("<Q")
    if n_names not in (0, count):
        raise WeightsError(f"{path}: corrupt MXNet params file ({n_names} names, {count} arrays)")
    names = []
    for _ in range(n_names):
        (length,) = take("<Q")
        if pos + length > len(data):
            raise WeightsError(f"{path}: truncated MXNet params file (names)")
        names.append(data[pos : pos + length].decode("utf-8", "replace"))
        pos += length
    if not names:
        names = [str(i) for i in range(count)]
    return dict(zip(names, arrays))
