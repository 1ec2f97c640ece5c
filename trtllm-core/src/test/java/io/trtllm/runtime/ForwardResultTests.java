package io.trtllm.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** A pass's result: rows of their own, and rows as ranges of one array (copied out only when asked). */
class ForwardResultTests {

    @Test
    void rowsOfTheirOwnAreHandedAsTheyAre() {
        float[] rows = {1f, 2f, 3f};
        ForwardResult r = ForwardResult.builder(2).logits(0, rows).tokenId(1, 7).build();
        assertThat(r.logits(0)).isSameAs(rows);
        assertThat(r.logitsArray(0)).isSameAs(rows);
        assertThat(r.logitsOffset(0)).isZero();
        assertThat(r.logits(1)).isEmpty();
        assertThat(r.logitsOffset(1)).isZero();
        assertThat(r.tokenId(1)).isEqualTo(7);
    }

    @Test
    void rangesOfOneArrayAreReadInPlaceAndCopiedOutOnce() {
        float[] pass = {0f, 1f, 2f, 3f, 4f, 5f, 6f, 99f};
        ForwardResult r = ForwardResult.builder(3).logits(0, pass, 0, 3).logits(2, pass, 3, 4).build();
        assertThat(r.logitsArray(2)).isSameAs(pass);
        assertThat(r.logitsOffset(2)).isEqualTo(3);
        float[] copy = r.logits(2);
        assertThat(copy).containsExactly(3f, 4f, 5f, 6f);
        assertThat(r.logits(2)).as("copied once").isSameAs(copy);
        assertThat(r.logitsArray(2)).isSameAs(copy);
        assertThat(r.logitsOffset(2)).isZero();
        assertThat(r.logits(0)).containsExactly(0f, 1f, 2f);
        assertThat(r.logits(1)).isEmpty();
    }

    @Test
    void releaseHandsTheArrayBackOnce() {
        int[] released = {0};
        ForwardResult r = ForwardResult.builder(1).logits(0, new float[4], 0, 4).onRelease(() -> released[0]++).build();
        r.release();
        r.release();
        assertThat(released[0]).isEqualTo(1);
        ForwardResult.builder(1).build().release(); // nothing to hand back
    }

    @Test
    void aRangeOutsideItsArrayIsRefused() {
        float[] pass = new float[4];
        assertThatThrownBy(() -> ForwardResult.builder(1).logits(0, pass, 2, 3)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> ForwardResult.builder(1).logits(0, pass, -1, 1)).isInstanceOf(IndexOutOfBoundsException.class);
    }
}
