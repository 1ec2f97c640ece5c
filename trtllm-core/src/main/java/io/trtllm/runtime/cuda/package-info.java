/**
 * The CUDA backend: weights in device memory (BF16), GEMMs through cuBLAS, the rest in kernels that
 * NVRTC compiles for the device at run time, a paged KV cache in device memory. Built on the
 * {@code org.bytedeco:cuda} presets, an optional dependency: only {@link io.trtllm.runtime.cuda.CudaBackend}
 * is touched when the backend is chosen, and it loads nothing native unless an NVIDIA driver is present.
 */
@NullMarked
package io.trtllm.runtime.cuda;

import org.jspecify.annotations.NullMarked;
