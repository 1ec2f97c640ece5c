import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Writes {@code io/trtllm/runtime/cpu/VectorPanels.java}: the matmul microkernels of
 * {@code VectorKernels}, one, four or eight tokens × one panel, for each weight kind (float
 * formats, INT8, INT4), from the one template below.
 *
 * <p>Why a generator and not a lambda or an array of accumulators: C2 keeps the vectors in registers
 * only when the sixteen accumulators of an eight-token panel are plain locals and the weight load sits
 * inline in the innermost loop; any abstraction over them spills. So the unrolled code is written out
 * per kind, and this table is the one place it is written. Maven runs this program in the
 * generate-sources phase ({@code trtllm-core/pom.xml}); {@code KernelsTests} checks every generated
 * kernel against {@code ScalarKernels}, bit for bit.
 *
 * <p>Usage: {@code java GenerateVectorPanels.java OUTPUT_SOURCE_ROOT}. The file is rewritten only when
 * its text changes, so an unchanged build does not recompile the module.
 */
public final class GenerateVectorPanels {

    /** Tokens of the batch kernel: 8 × 2 accumulators + 2 weight vectors + a broadcast fit 32 vector registers. */
    private static final int BATCH = 8;
    /** Tokens of the half-batch kernel for the rest of a batch (4 to 7 tokens): twice the FMAs per weight load of one token's. */
    private static final int HALF = 4;

    /**
     * One kind of panel: how its weights are walked and loaded, and what is done to the sums.
     *
     * @param suffix    the method name's suffix ({@code panel1Int8})
     * @param formats   the {@code PackedMatrix.Format} cases of the dispatch ({@code default} for the float formats)
     * @param params    the parameters between {@code cols} and {@code out}
     * @param prologue  the walk: {@code step} (bytes per column), {@code end} (bytes of the panel) and more
     * @param load      the loop body's loads of {@code w0} and {@code w1}, the weights of column {@code b}
     * @param grouped   whether the sums are folded per group of columns (INT4)
     * @param scales    the scales {@code s0} and {@code s1}: once at the end, or per group when grouped
     * @param doc1      the one-token kernel's Javadoc
     */
    private record Kind(String suffix, String formats, String params, String args, List<String> prologue,
                        List<String> load, boolean grouped, List<String> scales, String doc1) {
    }

    private static final List<Kind> KINDS = List.of(
            new Kind("", "default", "PackedMatrix.Format format, MemorySegment panel", "format, panel",
                    List.of("long step = format.columnBytes(2 * L);", "long half = step / 2;", "long end = cols * step;"),
                    List.of("FloatVector w0, w1;",
                            "switch (format) {",
                            "    case F32 -> {",
                            "        w0 = loadF32(panel, b);",
                            "        w1 = loadF32(panel, b + half);",
                            "    }",
                            "    case BF16 -> {",
                            "        w0 = loadBF16(panel, b);",
                            "        w1 = loadBF16(panel, b + half);",
                            "    }",
                            "    default -> {",
                            "        w0 = loadF16(panel, b);",
                            "        w1 = loadF16(panel, b + half);",
                            "    }",
                            "}"),
                    false, List.of(),
                    """
                    One token × one panel of float weights (F32, BF16 or F16): {@code out[o + r] = Σ_k x[xOff + k] · W[k][r]},
                    each lane one FMA chain in column order: exactly {@link #panel8}'s arithmetic, so a token's outputs
                    have the same bits alone and in a batch (in every JIT tier: FMA is exact, and no lanes are summed)."""),
            new Kind("Int8", "INT8", "MemorySegment panel, MemorySegment scales", "panel, scales",
                    List.of("long step = 2L * L;", "long end = cols * step;"),
                    List.of("FloatVector w0 = loadI8(panel, b);", "FloatVector w1 = loadI8(panel, b + L);"),
                    false, List.of("FloatVector s0 = loadScales(scales, 0), s1 = loadScales(scales, 4L * L);"),
                    """
                    One token × one INT8 panel: {@code out[o + r] = s(r) · Σ_k x[xOff + k] · q(r, k)}: each lane
                    accumulates with FMAs in column order (the int8 → float conversion is exact), and the row's scale
                    multiplies the sum once at the end: as accurate as dequantizing first, with no multiply per weight."""),
            new Kind("Int4", "INT4", "int group, MemorySegment panel, MemorySegment scales", "group, panel, scales",
                    List.of("long step = L; // bytes per column: two rows a byte", "long groupBytes = group * step;",
                            "long end = cols * step;"),
                    List.of("IntVector q = loadI4(panel, b);", "FloatVector w0 = low(q);", "FloatVector w1 = high(q);"),
                    true, List.of("FloatVector s0 = loadScales(scales, s), s1 = loadScales(scales, s + 4L * L);"),
                    """
                    One token × one INT4 panel: {@code out[o + r] = Σ_g s(r, g) · Σ_{k in g} x[xOff + k] · q(r, k)}, each
                    group's sum folded into the total with one FMA by the group's scale, in group order. The batch
                    kernel keeps its 16 totals beside its 16 sums (spilled between groups, read once per group)."""));

    private final List<String> lines = new ArrayList<>();
    private int indent;

    public static void main(String[] args) throws IOException {
        if (args.length != 1) {
            System.err.println("usage: java GenerateVectorPanels.java OUTPUT_SOURCE_ROOT");
            System.exit(2);
        }
        Path file = Path.of(args[0], "io", "trtllm", "runtime", "cpu", "VectorPanels.java");
        String text = new GenerateVectorPanels().source();
        Files.createDirectories(file.getParent());
        if (!Files.exists(file) || !Files.readString(file, StandardCharsets.UTF_8).equals(text)) {
            Files.writeString(file, text, StandardCharsets.UTF_8);
        }
    }

    String source() {
        emit("// Generated by trtllm-core/src/build/GenerateVectorPanels.java: edit that program, not this file.");
        emit("package io.trtllm.runtime.cpu;");
        emit("");
        for (String name : List.of("F", "L", "high", "loadBF16", "loadF16", "loadF32", "loadI4", "loadI8", "loadScales",
                "low")) {
            emit("import static io.trtllm.runtime.cpu.VectorLanes." + name + ";");
        }
        emit("");
        emit("import java.lang.foreign.MemorySegment;");
        emit("import jdk.incubator.vector.FloatVector;");
        emit("import jdk.incubator.vector.IntVector;");
        emit("import jdk.incubator.vector.VectorMask;");
        emit("");
        emit("/**");
        emit(" * The matmul microkernels of {@link VectorKernels}: per input column, the panel's two weight vectors");
        emit(" * times a broadcast input value into accumulators, for one token, " + HALF + " or " + BATCH + " tokens at a time.");
        emit(" * The kernels of a kind do the same operations per lane whatever their token count, so a token's");
        emit(" * outputs have the same bits alone and in a batch.");
        emit(" *");
        emit(" * <p>The loops walk a panel with a long byte offset into its slice: C2 then hoists the segment's");
        emit(" * bounds and liveness checks out of the loop (with an int counter and a long base it re-checks on");
        emit(" * every load and runs ~2x slower).");
        emit(" */");
        emit("final class VectorPanels {");
        indent++;
        emit("");
        emit("private VectorPanels() {");
        emit("}");
        dispatch();
        for (Kind kind : KINDS) {
            kernel(kind, 1);
            kernel(kind, HALF);
            kernel(kind, BATCH);
        }
        indent--;
        emit("}");
        return String.join("\n", lines) + "\n";
    }

    /** {@code multiply}: tokens {@code [t0, t1)} × one panel, {@value #BATCH} at a time, then {@value #HALF}, then one by one. */
    private void dispatch() {
        emit("");
        emit("/**");
        emit(" * {@code out[t·stride + o + r] = Σ_k x[t·cols + k] · W[k][r]} for tokens t in {@code [t0, t1)} and the");
        emit(" * first {@code valid} rows r of one panel of {@code format}, " + BATCH + " tokens at a time, then " + HALF
                + " if as many");
        emit(" * are left, then one by one.");
        emit(" */");
        emit("static void multiply(float[] x, int t0, int t1, int cols, PackedMatrix.Format format, int group, MemorySegment panel,");
        emit("                     MemorySegment scales, float[] out, int o, int stride, int valid) {");
        indent++;
        emit("int t = t0;");
        emit("switch (format) {");
        indent++;
        List<Kind> cases = new ArrayList<>(KINDS);
        cases.sort((a, b) -> Boolean.compare(a.formats().equals("default"), b.formats().equals("default"))); // default last
        for (Kind kind : cases) {
            emit((kind.formats().equals("default") ? "default" : "case " + kind.formats()) + " -> {");
            indent++;
            emit("for (; t + " + BATCH + " <= t1; t += " + BATCH + ") {");
            emit("    panel" + BATCH + kind.suffix() + "(x, t * cols, cols, " + kind.args() + ", out, t * stride + o, stride, valid);");
            emit("}");
            emit("if (t + " + HALF + " <= t1) {");
            emit("    panel" + HALF + kind.suffix() + "(x, t * cols, cols, " + kind.args() + ", out, t * stride + o, stride, valid);");
            emit("    t += " + HALF + ";");
            emit("}");
            emit("for (; t < t1; t++) {");
            emit("    panel1" + kind.suffix() + "(x, t * cols, cols, " + kind.args() + ", out, t * stride + o, valid);");
            emit("}");
            indent--;
            emit("}");
        }
        indent--;
        emit("}");
        indent--;
        emit("}");
    }

    /** {@code panel<tokens><suffix>}: {@code tokens} tokens × one panel of {@code kind}. */
    private void kernel(Kind kind, int tokens) {
        String name = "panel" + tokens + kind.suffix();
        emit("");
        if (tokens == 1) {
            emit("/**");
            for (String line : kind.doc1().strip().split("\n")) {
                emit(" * " + line);
            }
            emit(" */");
        } else {
            emit("/** " + tokens + " tokens ({@code cols} floats apart) × one panel, each output as in {@link #panel1" + kind.suffix()
                    + "}. */");
        }
        String head = "static void " + name + "(float[] x, int xOff, int cols, " + kind.params() + ",";
        String tail = "float[] out, int o," + (tokens == 1 ? "" : " int stride,") + " int valid) {";
        if (4 * indent + head.length() + tail.length() < 124) {
            emit(head + " " + tail);
        } else {
            emit(head);
            emit(" ".repeat(head.indexOf('(') + 1) + tail);
        }
        indent++;
        kind.prologue().forEach(this::emit);
        if (kind.grouped()) {
            declare("t", tokens); // the totals
        } else {
            declare("a", tokens);
        }
        if (tokens > 1) {
            List<String> offsets = new ArrayList<>();
            for (int i = 0; i < tokens; i++) {
                offsets.add("x" + i + " = " + (i == 0 ? "xOff" : "x" + (i - 1) + " + cols"));
            }
            declareInLines("int ", offsets, 4);
        }
        emit("int k = " + (tokens == 1 ? "xOff" : "0") + ";");
        if (kind.grouped()) {
            emit("long s = 0;");
            emit("for (long g = 0; g < end; g += groupBytes, s += 8L * L) {");
            indent++;
            declare("a", tokens);
            emit("for (long b = g, gEnd = g + groupBytes; b < gEnd; b += step, k++) {");
        } else {
            emit("for (long b = 0; b < end; b += step, k++) {");
        }
        indent++;
        kind.load().forEach(this::emit);
        for (int i = 0; i < tokens; i++) {
            String input = tokens == 1 ? "x[k]" : "x[x" + i + " + k]";
            emit((i == 0 ? "FloatVector v = " : "v = ") + "FloatVector.broadcast(F, " + input + ");");
            emit(acc("a", tokens, i, 0) + " = w0.fma(v, " + acc("a", tokens, i, 0) + ");");
            emit(acc("a", tokens, i, 1) + " = w1.fma(v, " + acc("a", tokens, i, 1) + ");");
        }
        indent--;
        emit("}");
        if (kind.grouped()) {
            kind.scales().forEach(this::emit);
            for (int i = 0; i < tokens; i++) {
                for (int h = 0; h < 2; h++) {
                    emit(acc("t", tokens, i, h) + " = " + acc("a", tokens, i, h) + ".fma(s" + h + ", " + acc("t", tokens, i, h) + ");");
                }
            }
            indent--;
            emit("}");
            stores(tokens, "t", "", "");
        } else {
            kind.scales().forEach(this::emit);
            boolean scaled = !kind.scales().isEmpty();
            stores(tokens, "a", scaled ? ".mul(s0)" : "", scaled ? ".mul(s1)" : "");
        }
        indent--;
        emit("}");
    }

    /**
     * The outputs' stores, written out: whole vectors when the panel's rows are all valid, masked ones otherwise.
     * Not a call to a helper taking the vectors: where C2 declined to inline it (its node budget spent on an
     * eight-token kernel, "NodeCountInliningCutoff"), the sixteen accumulators were boxed and the INT8 and INT4
     * eight-token kernels ran 3 and 10 times slower (docs/PERFORMANCE.md, issue 21 item 4, branch i21-int8load).
     * The Vector API methods called here are all {@code @ForceInline}, which that budget does not stop.
     */
    private void stores(int tokens, String prefix, String mul0, String mul1) {
        emit("if (valid == 2 * L) {");
        indent++;
        for (int i = 0; i < tokens; i++) {
            emit(acc(prefix, tokens, i, 0) + mul0 + ".intoArray(out, " + row(i) + ");");
            emit(acc(prefix, tokens, i, 1) + mul1 + ".intoArray(out, " + row(i) + " + L);");
        }
        indent--;
        emit("} else {");
        indent++;
        emit("VectorMask<Float> m0 = F.indexInRange(0, valid), m1 = F.indexInRange(L, valid);");
        for (int i = 0; i < tokens; i++) {
            emit(acc(prefix, tokens, i, 0) + mul0 + ".intoArray(out, " + row(i) + ", m0);");
            emit(acc(prefix, tokens, i, 1) + mul1 + ".intoArray(out, " + row(i) + " + L, m1);");
        }
        indent--;
        emit("}");
    }

    /** The accumulator of token {@code i}, weight vector {@code h}: {@code a0} alone, {@code a30} in a batch. */
    private static String acc(String prefix, int tokens, int i, int h) {
        return tokens == 1 ? prefix + h : prefix + i + h;
    }

    /** Where token {@code i}'s outputs start. */
    private static String row(int i) {
        return i == 0 ? "o" : i == 1 ? "o + stride" : "o + " + i + " * stride";
    }

    /** The zeroed accumulators {@code prefix} of {@code tokens} tokens, eight to a line. */
    private void declare(String prefix, int tokens) {
        String first = acc(prefix, tokens, 0, 0);
        List<String> names = new ArrayList<>();
        for (int i = 0; i < tokens; i++) {
            for (int h = 0; h < 2; h++) {
                String n = acc(prefix, tokens, i, h);
                names.add(n.equals(first) ? n + " = FloatVector.zero(F)" : n + " = " + first);
            }
        }
        declareInLines("FloatVector ", names, 8);
    }

    private void declareInLines(String type, List<String> declarators, int perLine) {
        for (int i = 0; i < declarators.size(); i += perLine) {
            emit(type + String.join(", ", declarators.subList(i, Math.min(declarators.size(), i + perLine))) + ";");
        }
    }

    private void emit(String line) {
        if (line.isEmpty()) {
            lines.add("");
            return;
        }
        char[] pad = new char[4 * indent];
        Arrays.fill(pad, ' ');
        lines.add(new String(pad) + line);
    }
}
