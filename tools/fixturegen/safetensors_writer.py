"""Writes .safetensors files with the standard library + numpy (no `safetensors` package).

Format: 8-byte little-endian header length N, N bytes of JSON header
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}} padded with
spaces to a multiple of 8, then the raw little-endian tensor bytes (offsets relative to the
start of the data). Tensors are packed in sorted-name order, as the Rust library does for
tensors of the same dtype, so reruns give identical bytes.
"""
import json
import struct

import numpy as np
import torch

_DTYPE_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
                torch.int64: "I64"}


def tensor_bytes(tensor):
    """Raw little-endian bytes of a CPU tensor in its own dtype."""
    tensor = tensor.detach().contiguous().cpu()
    if tensor.dtype == torch.bfloat16:
        # numpy has no bfloat16: reinterpret the 16-bit patterns.
        array = tensor.view(torch.int16).numpy()
    else:
        array = tensor.numpy()
    return array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()


def write_safetensors(path, tensors, metadata=None):
    """tensors: dict name -> torch tensor (F32, F16, BF16 or I64)."""
    header = {"__metadata__": dict(metadata or {"format": "pt"})}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        tensor = tensors[name]
        if tensor.dtype not in _DTYPE_NAMES:
            raise ValueError(f"{name}: unsupported dtype {tensor.dtype}")
        data = tensor_bytes(tensor)
        header[name] = {"dtype": _DTYPE_NAMES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    header_json = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_json += b" " * (-len(header_json) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(header_json)))
        out.write(header_json)
        for data in chunks:
            out.write(data)


def read_safetensors(path):
    """Reads a file written above back into torch tensors (self-check of the writer)."""
    with open(path, "rb") as f:
        raw = f.read()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + header_len].decode("utf-8"))
    base = 8 + header_len
    numpy_types = {"F32": np.float32, "F16": np.float16, "BF16": np.int16, "I64": np.int64}
    result = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        array = np.frombuffer(raw[base + begin:base + end], dtype=np.dtype(
            numpy_types[info["dtype"]]).newbyteorder("<")).reshape(info["shape"])
        tensor = torch.from_numpy(array.astype(array.dtype.newbyteorder("=")))
        if info["dtype"] == "BF16":
            tensor = tensor.view(torch.bfloat16)
        result[name] = tensor
    return result
