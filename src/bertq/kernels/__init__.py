"""bertq's CPU kernels (numba). Their compiled code is cached on disk under a cross-process lock
(:mod:`bertq.kernels.jit_cache`), so jobs that compile at once cannot corrupt the cache."""

from .jit_cache import install_cache_lock

install_cache_lock()
