package io.trtllm.model;

import java.util.Set;

/**
 * Named tensors a backend loads its weights from: a {@link Checkpoint}'s mapped files, or one rank's
 * share of them ({@link RankShard#view}). Tensors are read-only views; the source owns their memory.
 */
public interface TensorSource {

    /** Tensor names this source holds. */
    Set<String> names();

    /** Whether this source holds tensor {@code name}. */
    boolean contains(String name);

    /**
     * A tensor by name.
     *
     * @throws ModelFormatException when it is missing (names the tensor and the source)
     */
    Tensor tensor(String name);

    /** Where the tensors come from, for error messages (a directory, or a rank of one). */
    String location();
}
