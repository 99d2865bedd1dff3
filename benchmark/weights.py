"""Model weights: srbench checkpoints (safetensors) and importers of published weight files.

Nothing here ever unpickles. Checkpoints are safetensors files whose header metadata carries the
method, its full config and free-form provenance. Published weights are containers read by
:mod:`benchmark.formats` and converted by the importers each method registers next to its
architecture (``MethodSpec.importers``). A pickle or ``torch.save`` zip handed to any loader is
refused before a single byte of it is interpreted.

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
import os
import struct
import tempfile
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn as nn

from benchmark.formats import CONTAINERS, Importer, WeightsError, read_container, read_head, sniff
from benchmark.registry import MethodSpec, create_model, get_method, list_methods, resolve_config

PathLike = str | os.PathLike

FORMAT = "srbench-checkpoint"
FORMAT_VERSION = 1
_RESERVED = ("format", "format_version", "method", "config", "sha256")
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit; larger means a corrupt length field
MANIFEST_PATH = Path(__file__).with_name("weights_manifest.json")


# --------------------------------------------------------------------------------------------
# File sniffing


def _refuse_unsafe(path: Path, kind: str) -> None:
    if kind in ("pickle", "zip"):
        raise WeightsError(
            f"{path}: looks like a pickle/torch.save file; srbench never unpickles weights "
            "(convert it to safetensors in a trusted environment)"
        )


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
    kind = sniff(read_head(path))
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


def file_sha256(path: PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def import_weights(method: str, path: PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """Convert a published weight file for ``method``; dispatches on the file's content.

    An srbench checkpoint is passed to :func:`load_checkpoint`. Any other file is read as its
    container (:func:`benchmark.formats.read_container`) and converted by the first of the
    method's ``importers`` (:class:`benchmark.formats.Importer`) that recognises it; ``python
    -m benchmark methods`` and the method modules say which formats each method reads.

    Returns
    -------
    state_dict : dict
        Float32 tensors under the method's own keys.
    config_overrides : dict
        Options that differ from ``method``'s registered defaults (e.g. ``{"f2": 1}`` for a
        9-1-5 file imported as ``srcnn``). Build with ``create_model(method, **config_overrides)``.
    meta : dict
        ``source_format``, ``source_path``, ``source_sha256`` and the importer's notes.

    Raises
    ------
    WeightsError
        Unknown or unsafe format, a format another method imports but not ``method``, or
        tensors that do not fit ``method`` with the overrides.
    """
    path = Path(path)
    spec = get_method(method)
    kind = sniff(read_head(path))
    _refuse_unsafe(path, kind)
    if kind == "safetensors":
        state, meta = load_checkpoint(path, method)
        overrides = {k: v for k, v in meta["config"].items() if spec.config.get(k) != v}
        return state, overrides, meta
    if kind == "hdf5":
        raise WeightsError(f"{path}: HDF5 / MATLAB v7.3 weight files are not supported")
    if kind not in CONTAINERS:
        raise WeightsError(f"{path}: unknown weight file format")
    contents = read_container(path, kind)
    fmt, importer = _importer_for(path, spec, kind, contents)
    state, config, notes = importer.convert(path, contents, spec)
    unknown = sorted(set(config) - set(spec.config))
    if unknown:
        raise WeightsError(f"{path}: {fmt} weights need options {unknown}, which {method!r} lacks")
    overrides = {k: v for k, v in config.items() if spec.config[k] != v}
    _check_compatible(path, method, {**spec.config, **overrides}, state)
    meta: dict[str, Any] = {"source_format": fmt, "source_path": str(path),
                            "source_sha256": file_sha256(path)}
    if notes:
        meta["notes"] = list(notes)
        for note in notes:
            warnings.warn(f"{path}: {note}", stacklevel=2)
    return state, overrides, meta


_CONTAINER_TEXT = {"mat5": "MAT file", "mxnet": "MXNet params file"}


def _importer_for(path: Path, spec: MethodSpec, kind: str,
                  contents: Mapping[str, Any]) -> tuple[str, Importer]:
    """``spec``'s (format name, importer) for a ``kind`` container; else a WeightsError naming
    the family whose importer recognises the file, if any does."""
    for fmt, importer in spec.importers.items():
        if importer.container == kind and importer.detect(contents):
            return fmt, importer
    for other in list_methods():
        for fmt, importer in other.importers.items():
            if importer.container == kind and importer.detect(contents):
                raise WeightsError(f"{path}: is a {other.family} weight file ({fmt}), which "
                                   f"{spec.name!r} ({spec.family}) cannot import")
    names = sorted(k for k in contents if not k.startswith("__"))
    raise WeightsError(f"{path}: {_CONTAINER_TEXT[kind]} with variables {names} is no known SR model")


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
    relative = _entry(name).get("reference_path")  # packaged srbench models have none
    if not root or not relative:
        return None
    path = Path(root).parent / "reference" / relative
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
