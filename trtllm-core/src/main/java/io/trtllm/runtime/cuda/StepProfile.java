package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cuda.Cuda.check;
import static org.bytedeco.cuda.global.cudart.cudaEventCreate;
import static org.bytedeco.cuda.global.cudart.cudaEventDestroy;
import static org.bytedeco.cuda.global.cudart.cudaEventElapsedTime;
import static org.bytedeco.cuda.global.cudart.cudaEventRecord;
import static org.bytedeco.cuda.global.cudart.cudaEventSynchronize;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.cudart.CUstream_st;

/**
 * GPU time per step of a pass ({@code -Dtrtllm.cuda.profile=true}): a CUDA event recorded on the stream
 * after each step, the time between consecutive events summed per step name over the pass's layers.
 * {@link #begin} first enqueues a kernel that keeps the GPU busy for a few milliseconds, so that the
 * host has enqueued the whole pass before its first kernel runs and the times between events are the
 * kernels' own (not the host's launch rate). Costs a synchronization per pass: for measurements only,
 * with CUDA graphs off. Not thread-safe (the runner's thread).
 */
final class StepProfile implements AutoCloseable {
    /** System property that turns the profile on. */
    static final String PROPERTY = "trtllm.cuda.profile";

    private final CUstream_st stream;
    private final List<CUevent_st> events = new ArrayList<>();
    private final List<String> names = new ArrayList<>();
    /** Per step name: total ms, calls. Insertion order = order of first appearance. */
    private final Map<String, double[]> totals = new LinkedHashMap<>();
    private final float[] elapsed = new float[1];
    private int passes;

    StepProfile(CUstream_st stream) {
        this.stream = stream;
    }

    /** Starts a pass: the next {@link #mark} measures from here. */
    void begin() {
        names.clear();
        record(0);
    }

    /** The step {@code name} ends here (launched since the last mark). */
    void mark(String name) {
        names.add(name);
        record(names.size());
    }

    private void record(int i) {
        while (events.size() <= i) {
            CUevent_st e = new CUevent_st();
            check(cudaEventCreate(e), "cudaEventCreate");
            events.add(e);
        }
        check(cudaEventRecord(events.get(i), stream), "cudaEventRecord");
    }

    /** Ends the pass: waits for its last event and adds its steps' times to the totals. */
    void end() {
        if (names.isEmpty()) {
            return;
        }
        check(cudaEventSynchronize(events.get(names.size())), "cudaEventSynchronize");
        for (int i = 0; i < names.size(); i++) {
            check(cudaEventElapsedTime(elapsed, events.get(i), events.get(i + 1)), "cudaEventElapsedTime");
            double[] t = totals.computeIfAbsent(names.get(i), k -> new double[2]);
            t[0] += elapsed[0];
            t[1]++;
        }
        passes++;
        names.clear();
    }

    /** Forgets the totals. */
    void reset() {
        totals.clear();
        passes = 0;
    }

    /** Passes measured since the last reset. */
    int passes() {
        return passes;
    }

    /** Per step: ms per pass (averaged over the passes since the last reset), in order of first appearance. */
    Map<String, Double> perPass() {
        Map<String, Double> out = new LinkedHashMap<>();
        totals.forEach((k, v) -> out.put(k, v[0] / Math.max(1, passes)));
        return out;
    }

    /** {@link #perPass()} as a table: step, ms per pass, share of the pass. */
    String table() {
        Map<String, Double> per = perPass();
        double sum = per.values().stream().mapToDouble(Double::doubleValue).sum();
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-16s %10s %7s%n", "step", "ms/pass", "share"));
        per.forEach((k, v) -> sb.append(String.format(Locale.ROOT, "%-16s %10.3f %6.1f%%%n", k, v, 100 * v / sum)));
        sb.append(String.format(Locale.ROOT, "%-16s %10.3f %6.1f%%%n", "total", sum, 100.0));
        return sb.toString();
    }

    @Override
    public void close() {
        for (CUevent_st e : events) {
            cudaEventDestroy(e);
        }
        events.clear();
    }
}
