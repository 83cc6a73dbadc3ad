"""Writes the interop fixtures with numpy and safetensors (run once; outputs are committed).

    python3 make_fixtures.py

Values are simple closed forms so the Swift tests can check them exactly.
"""
import numpy as np
from safetensors.numpy import save_file

# float32, 3-D (S × S × C), version 1.0 header: value = i*100 + j*10 + c + 0.5
a = np.fromfunction(lambda i, j, c: i * 100 + j * 10 + c + 0.5, (3, 4, 2)).astype(np.float32)
np.save("numpy_f32_3d.npy", a)

# float64, 4-D, values with full double precision: value = (flat index) / 7
b = (np.arange(2 * 3 * 3 * 2, dtype=np.float64) / 7.0).reshape(2, 3, 3, 2)
np.save("numpy_f64_4d.npy", b)

# the same float64 array in format version 2.0
with open("numpy_f64_v2.npy", "wb") as f:
    np.lib.format.write_array(f, b, version=(2, 0))

# things the reader must refuse with a clear message
np.save("numpy_fortran.npy", np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
np.save("numpy_bigendian.npy", np.arange(4, dtype=">f4"))
np.save("numpy_int64.npy", np.arange(4, dtype=np.int64))

# a model written by safetensors.numpy: C 3, O 1, kernels identity,average, H 4
w2 = (np.arange(6 * 4, dtype=np.float32) / 10.0).reshape(6, 4)
w1 = -(np.arange(4 * 3, dtype=np.float32) / 20.0).reshape(4, 3)
v = np.array([0.25, -0.5, 1.0], dtype=np.float32)
save_file(
    {"W2": w2, "W1": w1, "v": v},
    "safetensors_model.safetensors",
    metadata={
        "format": "nca-model/1", "channels": "3", "observable": "1", "kernels": "identity,average",
        "activation": "tanh", "hidden": "4", "boundary": "reflect", "skip_probability": "0.25",
        "mask": "element",
    },
)
# float64 tensors, no metadata
save_file({"a": np.arange(5, dtype=np.float64) / 3.0}, "safetensors_f64.safetensors")

# an analysis fixture: a model with seeded random weights and numpy's SVD of them
# (C 4, O 2, kernels identity,laplacian, H 6)
rng = np.random.default_rng(7)
aw2 = rng.normal(size=(8, 6)).astype(np.float32)
aw1 = rng.normal(size=(6, 4)).astype(np.float32)
av = rng.normal(size=4).astype(np.float32)
save_file(
    {"W2": aw2, "W1": aw1, "v": av},
    "analysis_model.safetensors",
    metadata={
        "format": "nca-model/1", "channels": "4", "observable": "2", "kernels": "identity,laplacian",
        "activation": "relu", "hidden": "6", "boundary": "periodic", "skip_probability": "0", "mask": "cell",
    },
)
u, s, vt = np.linalg.svd(aw2.astype(np.float64), full_matrices=False)
np.save("analysis_w2_s.npy", s)
np.save("analysis_w2_u.npy", u)
np.save("analysis_w2_vt.npy", vt)
np.save("analysis_w1_s.npy", np.linalg.svd(aw1.astype(np.float64), compute_uv=False))
# importance[c][k] = norm of W2 row (c, k)
np.save("analysis_importance.npy", np.linalg.norm(aw2.astype(np.float64), axis=1).reshape(4, 2))

# PNG files of every colour type the image reader must handle, written with the standard library
# (zlib + struct) so the pixels are known exactly. A 3 × 2 image; pixel (x, y) of the RGBA
# reference is (40x + 10, 100y + 20, 7x + 9y, 255 − 60x − 50y).
import struct, zlib


def png(name, width, height, colour_type, bit_depth, rows, palette=None, transparency=None):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(row) for row in rows)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0))
    if palette is not None:
        data += chunk(b"PLTE", bytes(v for rgb in palette for v in rgb))
    if transparency is not None:
        data += chunk(b"tRNS", bytes(transparency))
    data += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    with open(name, "wb") as f:
        f.write(data)


W, H = 3, 2
rgba = [[(40 * x + 10, 100 * y + 20, 7 * x + 9 * y, 255 - 60 * x - 50 * y) for x in range(W)] for y in range(H)]
png("png_rgba8.png", W, H, 6, 8, [[v for p in row for v in p] for row in rgba])
png("png_rgb8.png", W, H, 2, 8, [[v for p in row for v in p[:3]] for row in rgba])
png("png_grey8.png", W, H, 0, 8, [[p[0] for p in row] for row in rgba])
png("png_greyalpha8.png", W, H, 4, 8, [[v for p in row for v in (p[0], p[3])] for row in rgba])
# 16-bit RGBA: each 8-bit value v stored as v·257 (so it converts back to v exactly)
png("png_rgba16.png", W, H, 6, 16, [[b for p in row for v in p for b in struct.pack(">H", v * 257)] for row in rgba])
# palette with transparency: index = x + 3y into the six RGBA pixels
flat = [p for row in rgba for p in row]
png("png_palette.png", W, H, 3, 8, [[x + W * y for x in range(W)] for y in range(H)],
    palette=[p[:3] for p in flat], transparency=[p[3] for p in flat])

# bad/: one damaged or unusable file per case the command-line tests feed to the real binary
import json, os

os.makedirs("bad", exist_ok=True)
np.save("bad/int64.npy", np.arange(4, dtype=np.int64).reshape(1, 2, 2, 1))
np.save("bad/fortran.npy", np.asfortranarray(np.zeros((1, 4, 4, 2), dtype=np.float32)))
np.save("bad/bigendian.npy", np.zeros((1, 4, 4, 2), dtype=">f4"))
good = np.zeros((1, 4, 4, 2), dtype=np.float32)
np.save("bad/good.npy", good)
with open("bad/good.npy", "rb") as f:
    good_bytes = f.read()
with open("bad/truncated.npy", "wb") as f:
    f.write(good_bytes[:-10])
header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }"
header += b" " * (118 - len(header) - 1) + b"\n"
with open("bad/huge.npy", "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header)
np.save("bad/rank2.npy", np.zeros((4, 4), dtype=np.float32))
nan = np.zeros((3, 1, 4, 4, 2), dtype=np.float32)
nan[1, 0, 2, 3, 1] = np.nan
np.save("bad/nan.npy", nan)
with open("bad/not_numpy.npy", "wb") as f:
    f.write(b"this is not a numpy file")


def safetensors_bytes(name, header, body=b""):
    raw = json.dumps(header).encode() if isinstance(header, dict) else header
    with open(name, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + body)


model_meta = {
    "format": "nca-model/1", "channels": "2", "observable": "2", "kernels": "identity,laplacian",
    "activation": "relu", "hidden": "8", "boundary": "periodic", "skip_probability": "0", "mask": "cell",
}
safetensors_bytes("bad/invalid_json.safetensors", b"{not json")
safetensors_bytes("bad/offsets.safetensors", {
    "__metadata__": model_meta, "W2": {"dtype": "F32", "shape": [4, 8], "data_offsets": [0, 128]},
    "W1": {"dtype": "F32", "shape": [8, 2], "data_offsets": [128, 192]},
    "v": {"dtype": "F32", "shape": [2], "data_offsets": [192, 9999]}}, b"\0" * 200)
safetensors_bytes("bad/missing_tensor.safetensors", {
    "__metadata__": model_meta, "W2": {"dtype": "F32", "shape": [4, 8], "data_offsets": [0, 128]},
    "W1": {"dtype": "F32", "shape": [8, 2], "data_offsets": [128, 192]}}, b"\0" * 192)
safetensors_bytes("bad/inconsistent.safetensors", {
    "__metadata__": model_meta, "W2": {"dtype": "F32", "shape": [4, 6], "data_offsets": [0, 96]},
    "W1": {"dtype": "F32", "shape": [6, 2], "data_offsets": [96, 144]},
    "v": {"dtype": "F32", "shape": [2], "data_offsets": [144, 152]}}, b"\0" * 152)
with open("bad/header_length.safetensors", "wb") as f:
    f.write(struct.pack("<Q", 2**62) + b"{}")
with open("png_rgba8.png", "rb") as f:
    png_bytes = f.read()
with open("bad/corrupt.png", "wb") as f:
    f.write(png_bytes[:60])
