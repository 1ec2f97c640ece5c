package io.trtllm.runtime.cuda;

import io.trtllm.runtime.SequenceChunk;
import java.util.List;
import org.bytedeco.cuda.cudart.CUstream_st;

/**
 * Work a {@link CudaModelRunner} enqueues on its stream before each pass's launches, after the pass's
 * inputs. Production runners have none; GPU tests install one with
 * {@link CudaModelRunner#installPassHook} (package-private) to inject a real device fault in the middle
 * of serving.
 */
@FunctionalInterface
interface PassHook {

    /** Called on the runner's thread, with the device current, for every pass. */
    void beforeLaunch(List<SequenceChunk> chunks, KernelModule kernels, CUstream_st stream);
}
