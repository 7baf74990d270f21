"""A native (C++) composer for RGB observations, as an XLA FFI custom call on the CPU.

XLA's CPU code for uint8 images is slow: writing the frames of an RGB observation (10 images of
21 kB per 5-vs-5 environment per step) cost it more than all of Gigastep's dynamics. The kernel in
`rgb_frames.cc` composes those bytes with memcpy and a few hundred pixel writes per frame, split
over XLA's intra-op thread pool. What is drawn (pixel positions, who sees whom, altitudes, health)
is still computed in JAX (`observe/rgb.py`), and the colours are the same float32 products as
there, so the native and the pure-XLA paths give the same pixels, bit for bit.

The shared library is compiled from source with the machine's C++ compiler the first time it is
needed (a few seconds), against the headers of the installed jaxlib, and cached under
`$GIGASTEP_JAX_CACHE` (default `~/.cache/gigastep_jax`), keyed by the source, the jaxlib version
and the compiler; `python -m gigastep_jax.native` builds it ahead of time (`make` does). If there
is no compiler, or `GIGASTEP_JAX_NATIVE=0`, or the platform is not the CPU, the pure-XLA path is
used: same results, slower RGB observations. Nothing else in the package depends on it.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp

SOURCE = Path(__file__).with_name("rgb_frames.cc")
TARGET = "gigastep_rgb_frames"
_SYMBOL = "GigastepRgbFrames"


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _flags(include: str) -> list[str]:
    return ["-O3", "-std=c++17", "-shared", "-fPIC", f"-I{include}"]


def cache_dir() -> Path:
    return Path(os.environ.get("GIGASTEP_JAX_CACHE", Path.home() / ".cache" / "gigastep_jax"))


def library_path() -> Path | None:
    """Where the compiled library for this source, jaxlib and compiler lives (None: no compiler)."""
    cxx = _compiler()
    if cxx is None or not hasattr(jax, "ffi"):
        return None
    import jaxlib  # noqa: PLC0415

    key = hashlib.sha256()
    key.update(SOURCE.read_bytes())
    key.update(jaxlib.__version__.encode())
    key.update(platform.machine().encode())  # a home folder may be shared by machines
    key.update(" ".join([cxx, *_flags("")]).encode())
    return cache_dir() / f"rgb_frames-{key.hexdigest()[:16]}.so"


def build(verbose: bool = False) -> Path:
    """Compile the library if it is not cached yet; returns its path.

    Written to a temporary file beside the target and renamed into place, so concurrent builders
    (pytest workers) and a build killed half-way never leave a partial library behind.
    Raises RuntimeError with the compiler's message if it cannot be built, or if the cache folder
    cannot be written.
    """
    path = library_path()
    if path is None:
        raise RuntimeError("no C++ compiler found (tried $CXX, c++, g++, clang++), or jax has no jax.ffi")
    if path.is_file():
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=path.parent)
    except OSError as err:
        raise RuntimeError(f"cannot write the library to {path.parent} ({err}); set GIGASTEP_JAX_CACHE") from err
    os.close(fd)
    cmd = [_compiler(), *_flags(jax.ffi.include_dir()), str(SOURCE), "-o", tmp]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"building {SOURCE.name} failed:\n{' '.join(cmd)}\n{done.stderr[-4000:]}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    if verbose:
        print(f"built {path}")
    return path


@functools.lru_cache(maxsize=None)
def available() -> bool:
    """Whether the native composer is built (building it now if needed) and registered with XLA.

    False if GIGASTEP_JAX_NATIVE=0, or it cannot be built (a warning says why, once)."""
    if os.environ.get("GIGASTEP_JAX_NATIVE", "1") == "0":
        return False
    try:
        lib = ctypes.cdll.LoadLibrary(str(build()))
        jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(getattr(lib, _SYMBOL)), platform="cpu")
    except (RuntimeError, OSError, AttributeError) as err:
        warnings.warn(f"gigastep_jax: native RGB composer unavailable, using the XLA path: {err}", stacklevel=2)
        return False
    return True


def rgb_frames(maps, map_idx, px, py, ego_px, shade, z255, team, seen, filled, hurt, shared: bool) -> jax.Array:
    """uint8[N, R, R, 3]: one environment's RGB frames composed natively (see rgb_frames.cc).

    maps uint8[M, R, R, 3] and map_idx int32[] (the frames' map: maps[map_idx]); px, py int32[N, P]
    (each agent's sprite and trail pixels); ego_px int32[N, P] (px where the ego is drawn, else
    past the image); shade float32[N, P] (0 where a sprite has no such pixel); z255 float32[N];
    team int32[N]; seen bool[N, N]; filled int32[N] (health-bar pixels); hurt int32[N] (red
    border); shared: every ego sees the agents of seen[0] (full observability). vmap-able: each
    operand keeps only the batch axes it has (an unbatched `maps` is never copied per
    environment), and the kernel loops over them. Call only where `available()` is True.
    """
    n, r = px.shape[0], maps.shape[1]
    out = jax.ShapeDtypeStruct((n, r, r, 3), jnp.uint8)
    call = jax.ffi.ffi_call(TARGET, out, vmap_method="expand_dims")
    i32 = functools.partial(jnp.asarray, dtype=jnp.int32)
    return call(
        maps, i32(map_idx), px, py, ego_px, shade, z255, i32(team), seen, i32(filled), i32(hurt), shared=bool(shared)
    )
