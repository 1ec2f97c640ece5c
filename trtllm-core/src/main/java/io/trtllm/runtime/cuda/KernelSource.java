package io.trtllm.runtime.cuda;

import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The backend's kernel source ({@code kernels.cu}, a class-path resource) and the NVRTC options it is
 * compiled with: what a compiled module must match to be used. Pure Java (no CUDA natives), so that
 * engine builds and cache keys can name it on machines without a GPU.
 */
final class KernelSource {
    static final String NAME = "kernels.cu";
    /** {@code sm_<major><minor>}, e.g. sm_80, sm_90, sm_100, with an optional feature suffix (sm_90a). */
    private static final Pattern ARCH = Pattern.compile("sm_(\\d{1,2})(\\d)([af]?)");
    private static volatile String text;
    private static volatile String sha256;

    private KernelSource() {
    }

    /** The source text. */
    static String text() {
        String t = text;
        if (t == null) {
            try (InputStream in = KernelSource.class.getResourceAsStream(NAME)) {
                if (in == null) {
                    throw new IllegalStateException(NAME + " is missing from the class path");
                }
                t = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            text = t;
        }
        return t;
    }

    /** SHA-256 of the source's UTF-8 bytes, hex. */
    static String sha256() {
        String h = sha256;
        if (h == null) {
            try {
                h = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text().getBytes(StandardCharsets.UTF_8)));
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
            sha256 = h;
        }
        return h;
    }

    /**
     * The model's shape and the runner's 16-bit type ({@code weightType}: BF16 or F16) as compile-time
     * constants of the kernels, {@code NAME=value} each.
     *
     * @throws IllegalArgumentException for a head dimension the kernels do not take (odd, or over 256)
     */
    static List<String> defines(ModelConfig c, DType weightType) {
        return defines(c, weightType, weightType);
    }

    /**
     * As {@link #defines(ModelConfig, DType)}, with a KV cache of {@code kvType}: the weight type, or
     * {@link DType#F8_E4M3} ({@code KV_FP8=1}: E4M3 keys and values of scale 1).
     *
     * @throws IllegalArgumentException for a head dimension the kernels do not take, or another KV type
     */
    static List<String> defines(ModelConfig c, DType weightType, DType kvType) {
        if (kvType != weightType && kvType != DType.F8_E4M3) {
            throw new IllegalArgumentException("the CUDA KV cache is in the weights' type (" + weightType + ") or F8_E4M3, got "
                    + kvType);
        }
        if (c.headDim() % 2 != 0 || c.headDim() > 256) {
            throw new IllegalArgumentException("the CUDA backend needs an even head_dim <= 256, got " + c.headDim());
        }
        Integer window = c.slidingWindow();
        boolean f16 = weightType == DType.F16;
        return List.of("DIM=" + c.hiddenSize(), "HEAD_DIM=" + c.headDim(), "N_HEADS=" + c.numHeads(),
                "N_KV_HEADS=" + c.numKvHeads(), "INTER=" + c.intermediateSize(),
                "EPS=" + String.format(Locale.ROOT, "%.9ef", c.rmsNormEps()),
                "WINDOW=" + (window == null ? 0 : window), "HAS_QKV_BIAS=" + (c.attentionBias() ? 1 : 0),
                "HAS_QK_NORM=" + (c.qkNorm() ? 1 : 0), f16 ? "WEIGHT_F16=1" : "WEIGHT_F16=0",
                kvType == DType.F8_E4M3 ? "KV_FP8=1" : f16 ? "KV_F16=1" : "KV_BF16=1");
    }

    /** The NVRTC options for {@code arch} with the model's {@code defines} ({@code NAME=value} each). */
    static List<String> options(String arch, List<String> defines) {
        List<String> options = new ArrayList<>(List.of("--gpu-architecture=" + arch, "--std=c++17", "-default-device"));
        for (String d : defines) {
            options.add("-D" + d);
        }
        return List.copyOf(options);
    }

    /** Whether GPUs of {@code arch} (a checked {@code sm_<major><minor>}) have FP8: sm_89 or newer. */
    static boolean supportsFp8(String arch) {
        Matcher m = ARCH.matcher(arch);
        if (!m.matches()) {
            throw new IllegalArgumentException("CUDA architecture '" + arch + "' is not of the form sm_<major><minor>");
        }
        return Integer.parseInt(m.group(1)) * 10 + Integer.parseInt(m.group(2)) >= 89;
    }

    /**
     * Checks an SM architecture name: {@code sm_<major><minor>} with major ≥ {@link CudaDevice#MIN_MAJOR}
     * (BF16 tensor cores), e.g. sm_80 (A100), sm_89 (L4), sm_90 (H100).
     *
     * @throws IllegalArgumentException naming the value and the expected form
     */
    static String checkArch(String arch) {
        Matcher m = ARCH.matcher(arch);
        if (!m.matches()) {
            throw new IllegalArgumentException("CUDA architecture '" + arch + "' is not of the form sm_<major><minor> "
                    + "(e.g. sm_80 for A100, sm_90 for H100)");
        }
        if (Integer.parseInt(m.group(1)) < CudaDevice.MIN_MAJOR) {
            throw new IllegalArgumentException("CUDA architecture " + arch + " is older than sm_80; the CUDA backend needs "
                    + "BF16 tensor cores");
        }
        return arch;
    }
}
