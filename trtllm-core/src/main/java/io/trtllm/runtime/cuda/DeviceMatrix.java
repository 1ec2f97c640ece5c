package io.trtllm.runtime.cuda;

/**
 * A linear weight {@code (rows, cols)} on the device, row-major: 16-bit floats (the runner's weight type),
 * or weight-only quantized in {@link QuantizedLayout}'s layout with its F32 scales.
 *
 * @param weights   device address of the values
 * @param scales    device address of the scales ({@link Format#INT8}, {@link Format#FP8}: one per row; {@link Format#INT4}: one per
 *                  row and group); 0 for {@link Format#FLOAT}
 * @param format    how the values are stored
 * @param rows      output features
 * @param cols      input features
 * @param groupSize columns per scale ({@link Format#INT4}); {@code cols} otherwise
 */
record DeviceMatrix(long weights, long scales, Format format, int rows, int cols, int groupSize) {

    /** How a matrix's values are stored. */
    enum Format {
        /** The runner's 16-bit type (BF16 or F16). */
        FLOAT,
        /** int8 values, an F32 scale per row. */
        INT8,
        /** int4 values two a byte, an F32 scale per row and group of {@code groupSize} columns. */
        INT4,
        /** FP8 E4M3 values, an F32 scale per row. */
        FP8
    }

    DeviceMatrix {
        if (rows <= 0 || cols <= 0 || groupSize <= 0 || cols % groupSize != 0) {
            throw new IllegalArgumentException("a device matrix of " + rows + " × " + cols + " with groups of " + groupSize);
        }
        if ((format == Format.FLOAT) != (scales == 0)) {
            throw new IllegalArgumentException(format + " matrix with scales at 0x" + Long.toHexString(scales));
        }
    }

    /** A 16-bit float matrix. */
    static DeviceMatrix floats(long weights, int rows, int cols) {
        return new DeviceMatrix(weights, 0, Format.FLOAT, rows, cols, cols);
    }

    boolean quantized() {
        return format != Format.FLOAT;
    }
}
