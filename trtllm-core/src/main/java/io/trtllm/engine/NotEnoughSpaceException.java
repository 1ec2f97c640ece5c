package io.trtllm.engine;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileSystemException;
import java.nio.file.Path;
import java.util.Locale;

/**
 * An engine could not be written because its file system has too little free space: raised before
 * anything is written when the free space is known to be short, and when the disk fills up while
 * the engine is written (then nothing is left behind either). The message names the directory, the
 * bytes needed and the bytes free.
 */
public final class NotEnoughSpaceException extends UncheckedIOException {
    private final Path directory;
    private final long needBytes;
    private final long freeBytes;

    NotEnoughSpaceException(Path directory, long needBytes, long freeBytes, String detail, IOException cause) {
        super("not enough space in " + directory + ": need " + size(needBytes) + ", free " + size(freeBytes) + detail,
                cause);
        this.directory = directory;
        this.needBytes = needBytes;
        this.freeBytes = freeBytes;
    }

    NotEnoughSpaceException(Path directory, long needBytes, long freeBytes) {
        this(directory, needBytes, freeBytes, "", new FileSystemException(directory.toString(), null,
                "not enough space"));
    }

    /** The directory the engine was to be written into. */
    public Path directory() {
        return directory;
    }

    /** Bytes the engine needs. */
    public long needBytes() {
        return needBytes;
    }

    /** Bytes that were free (usable by this process) when the build checked. */
    public long freeBytes() {
        return freeBytes;
    }

    private static String size(long bytes) {
        return bytes + " bytes (" + String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0) + ")";
    }
}
