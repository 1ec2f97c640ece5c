package io.trtllm.model;

import org.jspecify.annotations.Nullable;

/**
 * Rotary-embedding frequency scaling, as in Hugging Face's {@code rope_scaling}
 * ({@code rope_parameters} in transformers 5).
 *
 * @param type                          {@code linear} or {@code llama3}
 * @param factor                        scaling factor (> 0)
 * @param lowFreqFactor                 llama3 only
 * @param highFreqFactor                llama3 only
 * @param originalMaxPositionEmbeddings llama3 only: context length the model was trained with
 */
public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor,
                          int originalMaxPositionEmbeddings) {
    public static final String LINEAR = "linear";
    public static final String LLAMA3 = "llama3";

    public RopeScaling {
        if (!type.equals(LINEAR) && !type.equals(LLAMA3)) {
            throw new IllegalArgumentException("rope scaling type '" + type + "' is not supported; supported: linear, llama3");
        }
        if (!(factor > 0)) {
            throw new IllegalArgumentException("rope scaling factor must be > 0, got " + factor);
        }
        if (type.equals(LLAMA3) && (!(lowFreqFactor > 0) || !(highFreqFactor > lowFreqFactor)
                || originalMaxPositionEmbeddings <= 0)) {
            throw new IllegalArgumentException("llama3 rope scaling needs 0 < low_freq_factor < high_freq_factor and "
                    + "original_max_position_embeddings > 0, got low=" + lowFreqFactor + " high=" + highFreqFactor
                    + " original=" + originalMaxPositionEmbeddings);
        }
    }

    /**
     * Inverse frequencies for {@code headDim / 2} rotary pairs, as Hugging Face's
     * {@code ROPE_INIT_FUNCTIONS} compute them (in double, rounded to float at the end);
     * {@code scaling} null means unscaled.
     */
    public static float[] inverseFrequencies(int headDim, double theta, @Nullable RopeScaling scaling) {
        int half = headDim / 2;
        double[] inv = new double[half];
        for (int i = 0; i < half; i++) {
            // HF: 1 / theta ** (arange(0, dim, 2).float() / dim) -- computed in float32 there.
            float exponent = (float) (2 * i) / (float) headDim;
            inv[i] = 1.0 / Math.pow(theta, exponent);
        }
        if (scaling != null) {
            switch (scaling.type()) {
                case LINEAR -> {
                    for (int i = 0; i < half; i++) {
                        inv[i] /= scaling.factor();
                    }
                }
                case LLAMA3 -> {
                    double lowFreqWavelen = scaling.originalMaxPositionEmbeddings() / scaling.lowFreqFactor();
                    double highFreqWavelen = scaling.originalMaxPositionEmbeddings() / scaling.highFreqFactor();
                    for (int i = 0; i < half; i++) {
                        double wavelen = 2 * Math.PI / inv[i];
                        if (wavelen > lowFreqWavelen) {
                            inv[i] = inv[i] / scaling.factor();
                        } else if (wavelen >= highFreqWavelen) {
                            double smooth = (scaling.originalMaxPositionEmbeddings() / wavelen - scaling.lowFreqFactor())
                                    / (scaling.highFreqFactor() - scaling.lowFreqFactor());
                            inv[i] = (1 - smooth) * inv[i] / scaling.factor() + smooth * inv[i];
                        }
                    }
                }
                default -> throw new IllegalStateException(scaling.type());
            }
        }
        float[] out = new float[half];
        for (int i = 0; i < half; i++) {
            out[i] = (float) inv[i];
        }
        return out;
    }
}
