package io.trtllm.engine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The bytes a directory's file store has free for this process; tests substitute their own. */
@FunctionalInterface
interface SpaceProbe {
    /** The file store's usable space, as {@link java.nio.file.FileStore#getUsableSpace()} reports it. */
    SpaceProbe FILE_STORE = dir -> Files.getFileStore(dir).getUsableSpace();

    long usableBytes(Path dir) throws IOException;
}
