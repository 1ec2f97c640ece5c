package io.trtllm.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/**
 * The row scans beam search and log-probabilities use: the vector log-normalizer against the scalar double sum
 * of {@code Math.exp} (within {@link LogSoftmax#VECTOR_ERROR}), the vector exp against {@code Math.exp}, and the
 * vector top-n scan against the scalar one and a full sort (the same indexes, ties to the lowest index).
 */
class LogSoftmaxTests {

    /** Rows shaped like a model's: a 32,000-wide vocabulary, odd widths for the tail, peaked and flat ones. */
    private static float[] row(SplittableRandom random, int width, double scale, double shift) {
        float[] row = new float[width];
        for (int i = 0; i < width; i++) {
            row[i] = (float) (random.nextGaussian() * scale + shift);
        }
        return row;
    }

    @Test
    void vectorLogNormalizerIsWithinItsBoundOfTheScalarDoubleSum() {
        assertThat(Simd.ENABLED).as("the tests run with jdk.incubator.vector").isTrue();
        var random = new SplittableRandom(18);
        double worst = 0;
        for (int width : new int[] {1, 15, 17, 255, 1000, 32_000, 32_003, 151_936}) {
            for (double[] shape : new double[][] {{0.1, 0}, {3, 0}, {5, 40}, {12, -30}, {30, 0}}) {
                float[] row = row(random, width, shape[0], shape[1]);
                int offset = width > 2 ? 1 : 0; // rows sit at an offset in a batch's logits
                int n = width - offset;
                float max = row[offset + Sampler.argmax(row, offset, n)];
                double scalar = max + Math.log(LogSoftmax.scalarSumExp(row, offset, n, max));
                double vector = LogSoftmax.logNormalizer(row, offset, n, max);
                assertThat(vector).as("width %d, shape %s", width, Arrays.toString(shape))
                        .isCloseTo(scalar, within(LogSoftmax.VECTOR_ERROR));
                worst = Math.max(worst, Math.abs(vector - scalar));
            }
        }
        assertThat(worst).as("the bound is not loose by orders of magnitude").isGreaterThan(0).isLessThan(1e-6);
    }

    @Test
    void logNormalizerOfMaskedRows() {
        float[] row = new float[4000];
        Arrays.fill(row, Float.NEGATIVE_INFINITY);
        assertThat(LogSoftmax.logNormalizer(row, 0, row.length, Float.NEGATIVE_INFINITY))
                .isEqualTo(Double.NEGATIVE_INFINITY);
        // One allowed token among banned ones: all its probability, log 1 = 0 (a banned lane adds e^-87 at most).
        row[1234] = 7.5f;
        assertThat(LogSoftmax.logNormalizer(row, 0, row.length, 7.5f)).isCloseTo(7.5, within(1e-9));
        row[3999] = 7.5f;
        assertThat(LogSoftmax.logNormalizer(row, 0, row.length, 7.5f)).isCloseTo(7.5 + Math.log(2), within(1e-7));
    }

    @Test
    void logprobsWithAKnownNormalizerEqualThoseThatComputeIt() {
        float[] row = row(new SplittableRandom(3), 32_000, 4, 0);
        SampledToken computed = Sampler.logprobs(row, 0, row.length, 17, 5);
        double logZ = LogSoftmax.logNormalizer(row, 0, row.length, row[Sampler.argmax(row, 0, row.length)]);
        SampledToken given = Sampler.logprobs(row, 0, row.length, 17, 5, logZ);
        assertThat(given.logprob()).isEqualTo(computed.logprob());
        assertThat(given.topTokenIds()).containsExactly(computed.topTokenIds());
        assertThat(given.topLogprobs()).containsExactly(computed.topLogprobs());
    }

    @Test
    void vectorExpIsWithinTwoUlpOfMathExpAndSaturates() {
        var species = FloatVector.SPECIES_PREFERRED;
        int lanes = species.length();
        float[] xs = new float[lanes * 20_000];
        for (int i = 0; i < xs.length; i++) {
            xs[i] = -87f + 175f * i / (xs.length - 1);
        }
        float worst = 0;
        for (int i = 0; i < xs.length; i += lanes) {
            FloatVector v = VectorExp.exp(FloatVector.fromArray(species, xs, i));
            for (int l = 0; l < lanes; l++) {
                float expected = (float) Math.exp(xs[i + l]);
                worst = Math.max(worst, Math.abs(v.lane(l) - expected) / Math.ulp(expected));
            }
        }
        assertThat(worst).as("worst error in ulp").isLessThanOrEqualTo(2f);
        assertThat(VectorExp.exp(FloatVector.broadcast(species, Float.NEGATIVE_INFINITY)).lane(0)).isBetween(0f, 1e-37f);
        assertThat(VectorExp.exp(FloatVector.broadcast(species, Float.NaN)).lane(0)).isNaN();
    }

    @Test
    void vectorTopNScanEqualsTheScalarScanAndAFullSort() {
        var random = new SplittableRandom(81);
        for (int width : new int[] {8, 9, 31, 33, 1000, 32_000, 32_007}) {
            for (int round = 0; round < 5; round++) {
                float[] row = new float[width + 3];
                for (int i = 0; i < row.length; i++) {
                    // Round 0: many ties; 1: a rising row (the heap changes in most vectors); else Gaussian.
                    row[i] = round == 0 ? random.nextInt(50) : round == 1 ? i : (float) random.nextGaussian();
                    if (round == 4 && random.nextInt(3) == 0) {
                        row[i] = Float.NEGATIVE_INFINITY; // a guide's mask
                    }
                }
                int offset = 2;
                int[] sorted = IntStream.range(0, width).boxed()
                        .sorted((a, b) -> row[offset + a] != row[offset + b]
                                ? Float.compare(row[offset + b], row[offset + a]) : Integer.compare(a, b))
                        .mapToInt(Integer::intValue).toArray();
                for (int n : new int[] {1, 2, 8, Math.min(64, width)}) {
                    float[] values = new float[n + 1];
                    int[] indexes = new int[n + 1];
                    TopN.select(row, offset, width, n, values, indexes);
                    String as = "width " + width + ", round " + round + ", n " + n;
                    assertThat(Arrays.copyOf(indexes, n)).as(as).containsExactly(Arrays.copyOf(sorted, n));
                    for (int k = 0; k < n; k++) {
                        assertThat(values[k]).as(as).isEqualTo(row[offset + indexes[k]]);
                    }
                    // The two scans leave the same heap, entry for entry.
                    float[] scalarValues = Arrays.copyOf(row, n);
                    float[] vectorValues = new float[n];
                    int[] scalarIndexes = new int[n];
                    int[] vectorIndexes = new int[n];
                    TopN.select(row, offset, n, n, scalarValues, scalarIndexes); // a heap of the first n, sorted
                    System.arraycopy(scalarValues, 0, vectorValues, 0, n);
                    System.arraycopy(scalarIndexes, 0, vectorIndexes, 0, n);
                    reverse(scalarValues, scalarIndexes); // worst first: a valid min-heap
                    reverse(vectorValues, vectorIndexes);
                    TopN.offerAll(row, offset, n, width, scalarValues, scalarIndexes, n);
                    VectorRows.offerAll(row, offset, n, width, vectorValues, vectorIndexes, n);
                    assertThat(vectorIndexes).as(as).containsExactly(scalarIndexes);
                    assertThat(vectorValues).as(as).containsExactly(scalarValues);
                }
            }
        }
    }

    @Test
    void selectRefusesWhatItCannotHold() {
        float[] row = new float[10];
        assertThatThrownBy(() -> TopN.select(row, 0, 10, 11, new float[11], new int[11]))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("got 11");
        assertThatThrownBy(() -> TopN.select(row, 0, 10, 4, new float[3], new int[4]))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("top 4");
    }

    private static void reverse(float[] values, int[] indexes) {
        for (int i = 0, j = values.length - 1; i < j; i++, j--) {
            float v = values[i];
            values[i] = values[j];
            values[j] = v;
            int x = indexes[i];
            indexes[i] = indexes[j];
            indexes[j] = x;
        }
    }
}
