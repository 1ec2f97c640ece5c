package io.trtllm.sampling;

/**
 * What the sampler needs of a sequence's next row of logits ({@link Sampler#need}): the token alone, which a
 * runner can choose where the logits are (on the GPU for CUDA) and send back as an id, or the whole row on
 * the host.
 */
public enum RowNeed {
    /**
     * The index of the row's largest logit, the lowest on ties (as {@code torch.argmax}; {@link Sampler#argmax}):
     * greedy, nothing changes a logit, no log-probabilities.
     */
    ARGMAX,
    /**
     * A token drawn as {@link TokenSampler} draws it with {@link Sampler#tokenSampling}: temperature, top-k,
     * top-p and min-p alone, nothing else changes a logit, no log-probabilities.
     */
    DRAW,
    /**
     * The whole row: penalties, bans, min_tokens or a {@link TokenMask} change logits, or log-probabilities
     * need the raw ones; {@link Sampler#sample} chooses on the host.
     */
    ROW
}
