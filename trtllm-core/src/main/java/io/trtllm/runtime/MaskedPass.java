package io.trtllm.runtime;

import io.trtllm.sampling.Bitmask;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * A pass launched before the token masks of some of its chunks were known ({@link ModelRunner#launch(Batch,
 * boolean[])}): its layers and logits rows may be computing; its tokens are chosen once {@link #masks} has given
 * the masks.
 */
public interface MaskedPass extends PendingPass {

    /**
     * Gives, per chunk of the batch (in order), the token mask of each chunk launched with its mask to come
     * (null: every token may be chosen, e.g. for a sequence that ended meanwhile, whose token is dropped), and lets
     * the pass choose its tokens. Entries of the other chunks must be null (their masks came with them). Called
     * once, before {@link #await} and before the runner's next launch.
     *
     * @throws IllegalArgumentException for a list of another size than the batch, or a mask for a chunk launched
     *                                  with its own
     * @throws IllegalStateException    when called twice
     */
    void masks(List<@Nullable Bitmask> masks);
}
