package io.trtllm.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Whether a benchmark's warm-up figures have stopped moving: the last {@code window} figures lie within
 * {@code tolerance} of each other (max / min - 1). A benchmark warms up until each of its figures has
 * settled, or its warm-up time runs out and it says so, so that a cold JIT cannot pass for the engine.
 */
final class Settling {
    private final int window;
    private final double tolerance;
    private final List<Double> figures = new ArrayList<>();

    /**
     * @param window    figures that must agree (at least 2)
     * @param tolerance how far apart they may be, as a fraction of the smallest ({@code 0.03}: 3%)
     */
    Settling(int window, double tolerance) {
        if (window < 2 || !(tolerance >= 0)) {
            throw new IllegalArgumentException("window must be >= 2 and tolerance >= 0, got " + window + " and " + tolerance);
        }
        this.window = window;
        this.tolerance = tolerance;
    }

    /** Adds a figure (a rate or a time; positive). */
    void add(double figure) {
        figures.add(figure);
    }

    /** Whether the last {@code window} figures agree within the tolerance. */
    boolean settled() {
        return figures.size() >= window && spread() <= tolerance;
    }

    /** max / min - 1 of the last {@code window} figures (of all of them while there are fewer); NaN with none. */
    double spread() {
        if (figures.isEmpty()) {
            return Double.NaN;
        }
        double min = Double.POSITIVE_INFINITY;
        double max = Double.NEGATIVE_INFINITY;
        for (double f : figures.subList(Math.max(0, figures.size() - window), figures.size())) {
            min = Math.min(min, f);
            max = Math.max(max, f);
        }
        return min > 0 ? max / min - 1 : Double.POSITIVE_INFINITY;
    }

    /** Figures added so far. */
    int count() {
        return figures.size();
    }

    /** "settled (last 3 within 2.1%, tolerance 3%)" or "NOT settled (last 3 spread 14.0%, tolerance 3%)". */
    String describe() {
        return String.format(Locale.ROOT, "%s (last %d %s %.1f%%, tolerance %.0f%%)", settled() ? "settled" : "NOT settled",
                Math.min(window, figures.size()), settled() ? "within" : "spread", 100 * spread(), 100 * tolerance);
    }
}
