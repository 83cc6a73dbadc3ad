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
