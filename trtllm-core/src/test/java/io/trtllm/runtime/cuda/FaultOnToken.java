package io.trtllm.runtime.cuda;

import io.trtllm.runtime.SequenceChunk;
import java.util.List;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link PassHook} that makes every pass whose tokens include {@code token} launch, before its own
 * kernels, the kernel {@code fault} of kernels.cu, which writes to an unmapped address: a real illegal
 * memory access, which poisons the CUDA context of the whole process. Other passes cost one scan of
 * their tokens.
 */
final class FaultOnToken implements PassHook {
    private static final Logger LOG = LoggerFactory.getLogger(FaultOnToken.class);
    /** An address that is never mapped. */
    private static final long UNMAPPED = 8;

    private final int token;

    FaultOnToken(int token) {
        this.token = token;
    }

    @Override
    public void beforeLaunch(List<SequenceChunk> chunks, KernelModule kernels, CUstream_st stream) {
        for (SequenceChunk chunk : chunks) {
            for (int i = 0; i < chunk.length(); i++) {
                if (chunk.tokenId(i) == token) {
                    LOG.warn("Test hook: token {} in this pass, launching a kernel that writes to an unmapped address", token);
                    kernels.args().ptr(UNMAPPED).launch(kernels.function("fault"), "fault", 1, 1, 1, stream);
                    return;
                }
            }
        }
    }
}
