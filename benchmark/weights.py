"""Model weights: srbench checkpoints (safetensors) and importers of published weight files.

Nothing here ever unpickles. Checkpoints are safetensors files whose header metadata carries the
method, its full config and free-form provenance; published weights are read by format-specific
parsers (MATLAB ``.mat`` through :func:`scipy.io.loadmat`, MXNet ``.params`` by a small parser of
the NDArray binary format). A pickle or ``torch.save`` zip handed to any loader is refused before
a single byte of it is interpreted.

Checkpoint layout
-----------------
Tensors: the model's ``state_dict`` under its own keys. Header metadata (all strings):

==================  ==========================================================================
``format``          ``"srbench-checkpoint"``
``format_version``  ``"1"``
``method``          registry name, e.g. ``"drrn_b1u9"``
``config``          JSON of the full factory config (defaults + overrides)
``sha256``          digest of the tensor payload (:func:`state_digest`), checked on load
other keys          JSON of the ``meta`` passed to :func:`save_checkpoint` (recipe, data, ...)
==================  ==========================================================================

Public API
----------
``save_checkpoint(path, model, *, method, config, meta=None) -> Path``
``load_checkpoint(path, method=None) -> (state_dict, meta)``
``load_model(path, method=None, **overrides) -> (model, meta)``
``import_weights(method, path) -> (state_dict, config_overrides, meta)``
``download_weights(name, dest) -> Path`` and ``reference_weights(name) -> Path | None`` for the
entries of ``weights_manifest.json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import struct
import tempfile
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn as nn

from benchmark.registry import create_model, get_method, resolve_config

PathLike = str | os.PathLike

FORMAT = "srbench-checkpoint"
FORMAT_VERSION = 1
_RESERVED = ("format", "format_version", "method", "config", "sha256")
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit; larger means a corrupt length field
MANIFEST_PATH = Path(__file__).with_name("weights_manifest.json")


class WeightsError(ValueError):
    """A weight file that cannot be used: wrong method or config, corrupt, or unsafe.

    The message is always one line naming the file and the reason.
    """


# --------------------------------------------------------------------------------------------
# File sniffing


def _sniff(head: bytes) -> str:
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


def _refuse_unsafe(path: Path, kind: str) -> None:
    if kind in ("pickle", "zip"):
        raise WeightsError(
            f"{path}: looks like a pickle/torch.save file; srbench never unpickles weights "
            "(convert it to safetensors in a trusted environment)"
        )


def _read_head(path: Path, n: int = 1024) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read ({exc.strerror or exc})") from None


# --------------------------------------------------------------------------------------------
# Checkpoints


def state_digest(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict: keys in sorted order, each with dtype, shape and raw bytes.

    Independent of the file layout, so it detects corrupted tensor data after loading.
    """
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        h.update(key.encode() + b"\0" + str(t.dtype).encode() + b"\0")
        h.update(json.dumps(list(t.shape)).encode() + b"\0")
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _plain_state(model_or_state: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    state = model_or_state.state_dict() if isinstance(model_or_state, nn.Module) else model_or_state
    # clone: safetensors refuses tensors that share storage, and the file must not alias the model
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def save_checkpoint(
    path: PathLike,
    model: nn.Module | Mapping[str, torch.Tensor],
    *,
    method: str,
    config: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model``'s state dict as an srbench checkpoint, atomically.

    Parameters
    ----------
    path : path
        Destination (conventionally ``*.safetensors``); written to a temporary file in the same
        folder and moved into place with ``os.replace``, so readers never see a partial file.
    model : nn.Module or mapping
        The model (its ``state_dict()`` is saved) or a state dict.
    method : str
        Registry name; ``config`` is resolved against its defaults (unknown options refused).
    config : mapping, optional
        Factory overrides the model was built with; the full resolved config is stored.
    meta : mapping, optional
        JSON-serialisable provenance (e.g. ``recipe``, ``data``, ``protocol``, ``epoch``).

    Returns
    -------
    Path
        ``path``.
    """
    from safetensors.torch import save as st_save

    path = Path(path)
    try:
        full_config = resolve_config(method, **dict(config or {}))
    except (KeyError, TypeError) as exc:
        raise WeightsError(f"{path}: cannot save: {exc}") from None
    meta = dict(meta or {})
    # meta may repeat the method/config (callers often keep them in their provenance dict);
    # any other use of a reserved key would be silently shadowed, so it is refused.
    if meta.get("method") == method or meta.get("method") == get_method(method).name:
        meta.pop("method")
    if "config" in meta and meta["config"] == full_config:
        meta.pop("config")
    clash = sorted(set(meta) & set(_RESERVED))
    if clash:
        raise WeightsError(f"{path}: meta keys {clash} are reserved (or disagree with the arguments)")
    state = _plain_state(model)
    _check_compatible(path, method, full_config, state)  # refuse to write an unloadable file
    header = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "method": get_method(method).name,
        "config": json.dumps(full_config, sort_keys=True),
        "sha256": state_digest(state),
    }
    try:
        header.update({k: json.dumps(v, sort_keys=True) for k, v in meta.items()})
    except TypeError as exc:
        raise WeightsError(f"{path}: meta is not JSON-serialisable ({exc})") from None
    blob = st_save(state, metadata=header)

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def _parse_safetensors(path: Path, data: bytes) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """Validate the safetensors framing ourselves (clear errors), then let safetensors decode."""
    from safetensors.torch import load as st_load

    if len(data) < 8:
        raise WeightsError(f"{path}: truncated ({len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER or 8 + n > len(data):
        raise WeightsError(f"{path}: truncated or corrupt (header length {n}, file {len(data)} B)")
    try:
        header = json.loads(data[8 : 8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WeightsError(f"{path}: corrupt safetensors header") from None
    if not isinstance(header, dict):
        raise WeightsError(f"{path}: corrupt safetensors header")
    metadata = header.pop("__metadata__", None) or {}
    payload = len(data) - 8 - n
    try:
        end = max((int(v["data_offsets"][1]) for v in header.values()), default=0)
    except (KeyError, TypeError, ValueError, IndexError):
        raise WeightsError(f"{path}: corrupt safetensors header (tensor entries)") from None
    if end != payload:
        what = "truncated" if end > payload else "corrupt (trailing bytes)"
        raise WeightsError(f"{path}: {what}: tensors need {end} B of data, file has {payload}")
    try:
        tensors = st_load(data)
    except Exception as exc:  # SafetensorsError and friends
        raise WeightsError(f"{path}: corrupt safetensors data ({exc})") from None
    return metadata, tensors


def _check_compatible(path: Path, method: str, config: Mapping[str, Any],
                      state: Mapping[str, torch.Tensor]) -> None:
    """Refuse ``state`` unless a ``method`` model built with ``config`` has exactly its keys/shapes."""
    try:
        with torch.device("meta"):  # no memory, no init cost
            reference = create_model(method, **dict(config)).state_dict()
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"{path}: config does not fit {method!r}: {exc}") from None
    missing = sorted(set(reference) - set(state))
    extra = sorted(set(state) - set(reference))
    if missing or extra:
        raise WeightsError(
            f"{path}: tensors do not match {method!r} with its config "
            f"(missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
            f"unexpected {extra[:3]}{'...' if len(extra) > 3 else ''})"
        )
    for key, ref in reference.items():
        if tuple(state[key].shape) != tuple(ref.shape):
            raise WeightsError(
                f"{path}: {key} has shape {tuple(state[key].shape)}, {method!r} with this config "
                f"needs {tuple(ref.shape)}"
            )


def load_checkpoint(path: PathLike, method: str | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read an srbench checkpoint; never unpickles.

    Parameters
    ----------
    path : path
        A file written by :func:`save_checkpoint`.
    method : str, optional
        Expected registry name; a checkpoint of another method is refused.

    Returns
    -------
    state_dict : dict of str to Tensor
        CPU tensors, verified against the stored ``sha256``.
    meta : dict
        ``method``, ``config`` (dict), ``format_version`` (int), ``sha256`` and every extra
        key passed as ``meta`` when saving (JSON-decoded).

    Raises
    ------
    WeightsError
        Not a checkpoint (pickle, MAT, MXNet, ... : the message says which), truncated or
        corrupt, payload digest mismatch, wrong method, or tensors that do not fit the method
        built with the stored config.
    """
    path = Path(path)
    kind = _sniff(_read_head(path))
    _refuse_unsafe(path, kind)
    if kind in ("mat5", "hdf5", "mxnet"):
        raise WeightsError(
            f"{path}: is a {kind} weight file, not an srbench checkpoint; use import_weights()"
        )
    data = path.read_bytes()
    metadata, state = _parse_safetensors(path, data)
    if metadata.get("format") != FORMAT:
        raise WeightsError(f"{path}: safetensors file without srbench metadata (format != {FORMAT!r})")
    try:
        version = int(metadata.get("format_version", ""))
    except ValueError:
        raise WeightsError(f"{path}: corrupt format_version") from None
    if version > FORMAT_VERSION:
        raise WeightsError(f"{path}: checkpoint format {version} is newer than this srbench ({FORMAT_VERSION})")
    stored = metadata.get("method", "")
    if method is not None and get_method(method).name != stored:
        raise WeightsError(f"{path}: holds a {stored!r} checkpoint, not {method!r}")
    if state_digest(state) != metadata.get("sha256"):
        raise WeightsError(f"{path}: tensor payload does not match its sha256 (corrupt file)")
    try:
        meta: dict[str, Any] = {
            k: json.loads(v) for k, v in metadata.items() if k not in _RESERVED
        }
        config = json.loads(metadata.get("config", "{}"))
    except json.JSONDecodeError:
        raise WeightsError(f"{path}: corrupt metadata JSON") from None
    meta.update(method=stored, config=config, format_version=version, sha256=metadata["sha256"])
    try:
        get_method(stored)
    except KeyError:
        if method is not None:
            raise
    else:
        _check_compatible(path, stored, config, state)
    return state, meta


def load_state(model: nn.Module, state: Mapping[str, torch.Tensor], *, source: str = "weights") -> nn.Module:
    """``model.load_state_dict(state, strict=True)`` with a one-line :class:`WeightsError`."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = next((ln.strip() for ln in str(exc).splitlines()[1:] if ln.strip()), str(exc))
        raise WeightsError(f"{source}: does not fit the model: {first}") from None
    return model


def load_model(path: PathLike, method: str | None = None, **overrides: Any) -> tuple[nn.Module, dict[str, Any]]:
    """Build the checkpoint's method with its stored config (plus ``overrides``) and load it.

    Returns the model in eval mode and the checkpoint's meta. Overrides that change tensor
    shapes are refused with :class:`WeightsError`.
    """
    state, meta = load_checkpoint(path, method)
    config = {**meta["config"], **overrides}
    _check_compatible(Path(path), meta["method"], config, state)
    model = create_model(meta["method"], **config)
    load_state(model, state, source=str(path))
    return model.eval(), {**meta, "config": config}


def build_model(method: str, path: PathLike) -> tuple[nn.Module, dict[str, Any], dict[str, Any]]:
    """``method`` built with the file's config and loaded with its weights: an srbench
    checkpoint or any published format :func:`import_weights` reads (the one loader of
    ``run``, ``ablate`` and ``weights import``). Returns ``(model, config, meta)``."""
    state, overrides, meta = import_weights(method, path)
    config = resolve_config(method, **overrides)
    model = load_state(create_model(method, **config), state, source=str(path))
    return model, config, meta


# --------------------------------------------------------------------------------------------
# Published formats


def read_mxnet_params(path: PathLike) -> dict[str, np.ndarray]:
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


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def _from_matconvnet(path: Path, mat: dict) -> tuple[str, dict[str, torch.Tensor], dict[str, Any]]:
    """VDSR MatConvNet model: struct ``model`` with cell arrays weight{1..L}, bias{1..L}.

    MatConvNet stores filters H x W x Cin x Cout (trailing singleton dims dropped by MATLAB) and
    ``vl_nnconv`` is a correlation like ``torch.conv2d``, so weight[k, c, h, w] = W[h, w, c, k]:
    no flip and no spatial transpose. Checked under drrn-matlab-v1: Set5 37.53/33.66/31.34
    (x2/x3/x4; paper 37.53/33.66/31.35); spatially transposed kernels give 37.54/33.64/31.30.
    """
    model = mat["model"]
    weights = [np.asarray(w) for w in np.ravel(model["weight"][0, 0])]
    biases = [np.asarray(b).reshape(-1) for b in np.ravel(model["bias"][0, 0])]
    if len(weights) != len(biases) or len(weights) < 2:
        raise WeightsError(f"{path}: MatConvNet model with {len(weights)} weights / {len(biases)} biases")
    state = {}
    for i, (w, b) in enumerate(zip(weights, biases)):
        w = w.reshape(w.shape + (1,) * (4 - w.ndim))
        state[f"convs.{i}.weight"] = _t(w.transpose(3, 2, 0, 1))
        state[f"convs.{i}.bias"] = _t(b)
    config = {"depth": len(weights), "channels": int(weights[0].reshape(weights[0].shape + (1,) * (4 - weights[0].ndim)).shape[3])}
    return "vdsr", state, config


def _from_srcnn_mat(path: Path, mat: dict) -> tuple[str, dict[str, torch.Tensor], dict[str, Any]]:
    """SRCNN release ``.mat``: weights_conv1 (f1^2 x n1), weights_conv2 (n1 x f2^2 x n2),
    weights_conv3 (n2 x f3^2), biases_conv{1,2,3}.

    The release's SRCNN.m reshapes each column (MATLAB column-major, so the 81 values run down
    the kernel's columns) and applies ``imfilter`` (correlation): the torch kernel is
    ``reshape(col, (f, f), order='F')`` with no flip. Checked: Set5 x3 32.39 dB (ECCV 2014:
    32.39); transposed kernels give 32.45, flipped 32.39, flipped+transposed 32.46 (the
    kernels are nearly symmetric, so only the code of SRCNN.m settles it). For f2 > 1 (9-5-5
    files, none available to test) conv2 is read as column-major f2 x f2 kernels likewise.
    """
    w1 = np.asarray(mat["weights_conv1"], np.float64)
    w2 = np.asarray(mat["weights_conv2"], np.float64)
    w3 = np.asarray(mat["weights_conv3"], np.float64)
    if w2.ndim == 2:  # MATLAB drops a trailing singleton n2 = 1, or f2^2 = 1 was squeezed
        w2 = w2[:, None, :] if w2.shape[1] != 1 else w2[:, :, None]
    f1, f2, f3 = (int(round(math.sqrt(n))) for n in (w1.shape[0], w2.shape[1], w3.shape[1]))
    if f1 * f1 != w1.shape[0] or f2 * f2 != w2.shape[1] or f3 * f3 != w3.shape[1]:
        raise WeightsError(f"{path}: SRCNN kernels are not square")
    n1, n2 = w1.shape[1], w3.shape[0]
    k1 = w1.T.reshape(n1, f1, f1).transpose(0, 2, 1)  # column-major reshape per filter
    k2 = w2.transpose(2, 0, 1).reshape(n2, n1, f2, f2).transpose(0, 1, 3, 2)
    k3 = w3.reshape(n2, f3, f3).transpose(0, 2, 1)
    state = {
        "conv1.weight": _t(k1[:, None]),
        "conv1.bias": _t(np.ravel(mat["biases_conv1"])),
        "conv2.weight": _t(k2),
        "conv2.bias": _t(np.ravel(mat["biases_conv2"])),
        "conv3.weight": _t(k3[None]),
        "conv3.bias": _t(np.ravel(mat["biases_conv3"])),
    }
    config = {"f1": f1, "f2": f2, "f3": f3, "n1": n1, "n2": n2, "padding_mode": "replicate"}
    return "srcnn", state, config


#: MXNet argument names of the Super-Resolution-Zoo conversion -> our DRRN state-dict keys.
_MXNET_DRRN = {"learned_0": "blocks.0.conv_in.weight", "learned_1": "blocks.0.conv1.0.weight",
               "learned_2": "blocks.0.conv2.0.weight", "learned_3": "out_conv.weight"}


def _from_mxnet_drrn(path: Path, arrays: dict[str, np.ndarray]) -> tuple[str, dict[str, torch.Tensor], dict[str, Any]]:
    """The Super-Resolution-Zoo conversion of jt827859032/DRRN-pytorch (B1, no BN, no bias).

    That port pre-activates with in-place ReLUs: ``self.input(self.relu(x))`` rewrites the ILR
    the global residual later adds, and the first unit's ``self.relu(out)`` rewrites H0, which
    every unit adds (the converted MXNet graph shows both adds taking the ReLU outputs). Hence
    ``input_act=True`` and ``relu_skip=True``; U is not stored in the file (the port runs 25).
    """
    plain = {k.split(":", 1)[-1]: v for k, v in arrays.items()}
    if set(plain) != set(_MXNET_DRRN):
        raise WeightsError(
            f"{path}: MXNet params {sorted(plain)} are not the DRRN B1 layout {sorted(_MXNET_DRRN)}"
        )
    c = plain["learned_0"].shape[0]
    want = {"learned_0": (c, 1, 3, 3), "learned_1": (c, c, 3, 3), "learned_2": (c, c, 3, 3),
            "learned_3": (1, c, 3, 3)}
    for k, shape in want.items():
        if plain[k].shape != shape:
            raise WeightsError(f"{path}: {k} has shape {plain[k].shape}, DRRN B1 needs {shape}")
    state = {_MXNET_DRRN[k]: _t(v) for k, v in plain.items()}
    config = {"B": 1, "channels": c, "share": True, "multipath": True, "bn": False, "bias": False,
              "input_act": True, "relu_skip": True}
    return "drrn", state, config


def file_sha256(path: PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def import_weights(method: str, path: PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """Convert a published weight file for ``method``; dispatches on the file's content.

    Supported: VDSR MatConvNet ``.mat`` (``vdsr``), SRCNN release ``.mat`` (``srcnn``,
    ``srcnn_915``), the MXNet ``.params`` conversion of jt827859032/DRRN-pytorch (``drrn``
    family, B1, shared multi-path units), and srbench checkpoints (passed to
    :func:`load_checkpoint`).

    Returns
    -------
    state_dict : dict
        Float32 tensors under the method's own keys.
    config_overrides : dict
        Options that differ from ``method``'s registered defaults (e.g. ``{"f2": 1}`` for a
        9-1-5 file imported as ``srcnn``; ``bn=False, bias=False, relu_skip=True`` for the
        MXNet DRRN). Build with ``create_model(method, **config_overrides)``.
    meta : dict
        ``source_format``, ``source_path``, ``source_sha256`` and notes.

    Raises
    ------
    WeightsError
        Unknown or unsafe format, a file of another family than ``method``, or tensors that do
        not fit ``method`` with the overrides.
    """
    path = Path(path)
    spec = get_method(method)
    kind = _sniff(_read_head(path))
    _refuse_unsafe(path, kind)
    notes: list[str] = []
    if kind == "safetensors":
        state, meta = load_checkpoint(path, method)
        overrides = {k: v for k, v in meta["config"].items() if spec.config.get(k) != v}
        return state, overrides, meta
    if kind == "mat5":
        import scipy.io

        try:
            mat = scipy.io.loadmat(path)
        except Exception as exc:  # scipy raises several types for damaged files
            raise WeightsError(f"{path}: unreadable MAT file ({exc})") from None
        if "model" in mat and getattr(mat["model"], "dtype", None) is not None \
                and mat["model"].dtype.names and {"weight", "bias"} <= set(mat["model"].dtype.names):
            family, state, config = _from_matconvnet(path, mat)
            fmt = "matconvnet-mat"
        elif "weights_conv1" in mat:
            family, state, config = _from_srcnn_mat(path, mat)
            fmt = "srcnn-mat"
        else:
            keys = sorted(k for k in mat if not k.startswith("__"))
            raise WeightsError(f"{path}: MAT file with variables {keys} is no known SR model")
    elif kind == "mxnet":
        family, state, config = _from_mxnet_drrn(path, read_mxnet_params(path))
        fmt = "mxnet-params"
        if family == spec.family and spec.config.get("U") != 25:
            notes.append(f"source model ran U=25 recursions; {method} uses U={spec.config.get('U')}")
    elif kind == "hdf5":
        raise WeightsError(f"{path}: HDF5 / MATLAB v7.3 weight files are not supported")
    else:
        raise WeightsError(f"{path}: unknown weight file format")

    if family != spec.family:
        raise WeightsError(f"{path}: is a {family} weight file ({fmt}), not for {method!r} ({spec.family})")
    unknown = sorted(set(config) - set(spec.config))
    if unknown:
        raise WeightsError(f"{path}: {fmt} weights need options {unknown}, which {method!r} lacks")
    if family == "drrn" and (not spec.config.get("share", False) or not spec.config.get("multipath", False)):
        raise WeightsError(f"{path}: shared multi-path DRRN weights cannot serve {method!r}")
    overrides = {k: v for k, v in config.items() if spec.config[k] != v}
    _check_compatible(path, method, {**spec.config, **overrides}, state)
    meta = {"source_format": fmt, "source_path": str(path), "source_sha256": file_sha256(path)}
    if notes:
        meta["notes"] = notes
        for note in notes:
            warnings.warn(f"{path}: {note}", stacklevel=2)
    return state, overrides, meta


# --------------------------------------------------------------------------------------------
# Manifest of published weights


def load_weights_manifest() -> dict[str, dict[str, Any]]:
    """The entries of ``benchmark/weights_manifest.json`` keyed by weights name."""
    with open(MANIFEST_PATH, encoding="utf-8") as f:
        return json.load(f)["weights"]


def _entry(name: str) -> dict[str, Any]:
    manifest = load_weights_manifest()
    if name not in manifest:
        raise WeightsError(f"unknown published weights {name!r}; known: {', '.join(sorted(manifest))}")
    return manifest[name]


def reference_weights(name: str, data_root: PathLike | None = None) -> Path | None:
    """The local copy of published weights ``name`` under ``$SRBENCH_DATA/../reference``, if any."""
    root = data_root or os.environ.get("SRBENCH_DATA")
    if not root:
        return None
    path = Path(root).parent / "reference" / _entry(name)["reference_path"]
    return path if path.is_file() else None


def download_weights(name: str, dest: PathLike, *, progress: bool = True) -> Path:
    """Fetch published weights ``name`` (see the manifest) into ``dest``; sha256-verified.

    ``dest`` is a folder, created if missing (the file keeps its published name), or a file
    path with the published file's extension. Uses :func:`benchmark.data.download_file`, which
    only moves a verified file into place.
    """
    from benchmark.data import download_file  # lazy: the data layer is optional here

    entry = _entry(name)
    dest = Path(dest)
    if dest.is_dir() or dest.suffix != Path(entry["filename"]).suffix:
        dest = dest / entry["filename"]
    return download_file(entry["url"], dest, entry["sha256"], size=entry.get("size"), progress=progress)
