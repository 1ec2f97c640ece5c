package io.trtllm.runtime.cpu;

/** Plain-Java reference kernels; used when the Vector API module is not enabled. */
final class ScalarKernels implements Kernels {

    @Override
    public void matmul(float[] x, int tokens, WeightMatrix w, int j0, int j1, float[] out, int outStride, int outOffset) {
        int cols = w.cols();
        float[] row = new float[cols];
        for (int j = j0; j < j1; j++) {
            w.row(j, row, 0);
            for (int t = 0; t < tokens; t++) {
                out[t * outStride + outOffset + j] = dot(x, t * cols, row, 0, cols);
            }
        }
    }

    @Override
    public float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        float sum = 0f;
        for (int i = 0; i < n; i++) {
            sum += a[aOff + i] * b[bOff + i];
        }
        return sum;
    }

    @Override
    public float expSum(float[] s, int from, int to, float max) {
        float sum = 0f;
        for (int i = from; i < to; i++) {
            float e = (float) Math.exp(s[i] - max);
            s[i] = e;
            sum += e;
        }
        return sum;
    }

    @Override
    public void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        for (int i = 0; i < n; i++) {
            y[yOff + i] += alpha * x[xOff + i];
        }
    }

    @Override
    public String description() {
        return "scalar";
    }
}
