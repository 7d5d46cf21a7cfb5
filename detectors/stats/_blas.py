"""One BLAS thread for the detectors' linear algebra.

Every matrix here is tiny (a handful of parameters, a few channels), so OpenBLAS never splits the work,
but its thread pool still wakes and spin-waits on each call: on the shared 2-core machine one L-BFGS-B
fit of two parameters took ~30 ms instead of ~1.4 ms (WHO's weight fit makes 6 per client). With one
thread the same code runs the same single-threaded kernels, so results are unchanged.

``limit_blas_threads`` finds the OpenBLAS libraries numpy and scipy loaded (each wheel ships its own)
through ``/proc/self/maps`` and calls their ``*_set_num_threads`` — what threadpoolctl does, without the
dependency. Best effort: elsewhere (no ``/proc``, another BLAS) it changes nothing.
"""

from __future__ import annotations

import ctypes

# The entry points of the OpenBLAS builds numpy and scipy ship (scipy-openblas, 32- and 64-bit ints).
_GETTERS = ("openblas_get_num_threads", "scipy_openblas_get_num_threads", "scipy_openblas_get_num_threads64_",
            "openblas_get_num_threads64_")
_SETTERS = ("openblas_set_num_threads", "scipy_openblas_set_num_threads", "scipy_openblas_set_num_threads64_",
            "openblas_set_num_threads64_")


def loaded_openblas_libraries() -> list[str]:
    """Paths of the OpenBLAS shared libraries mapped into this process."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return []
    return sorted(p for p in paths if p.startswith("/"))


def blas_threads() -> dict[str, int]:
    """The thread count of every loaded OpenBLAS, by library path."""
    counts = {}
    for path in loaded_openblas_libraries():
        getter = _function(path, _GETTERS)
        if getter is not None:
            counts[path] = int(getter())
    return counts


def _function(path: str, names: tuple[str, ...]):  # noqa: ANN202 - a ctypes function or None
    try:
        library = ctypes.CDLL(path)
    except OSError:
        return None
    return next((getattr(library, name) for name in names if hasattr(library, name)), None)


def limit_blas_threads(threads: int = 1) -> list[str]:
    """Set every loaded OpenBLAS to ``threads`` threads; returns the libraries it set."""
    done = []
    for path in loaded_openblas_libraries():
        setter = _function(path, _SETTERS)
        if setter is not None:
            setter(ctypes.c_int(threads))
            done.append(path)
    return done
