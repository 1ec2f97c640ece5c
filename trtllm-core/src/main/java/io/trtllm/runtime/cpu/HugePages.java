package io.trtllm.runtime.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Memory on transparent huge pages (Linux): 2 MiB pages, so that streaming tens of megabytes of
 * weights per token costs one TLB entry per 2 MiB instead of per 4 KiB. A CPU decode step reads
 * every weight once, from memory, in long sequential runs: on 4 KiB pages a core streams them at
 * about half the rate it reaches on huge pages (docs/PERFORMANCE.md).
 *
 * <p>Allocations are anonymous mappings, 2 MiB-aligned and advised {@code MADV_HUGEPAGE} before
 * anything touches them, so that their first writes fault in whole huge pages. Where the kernel
 * has no transparent huge pages, or {@code mmap}/{@code madvise} cannot be called (not Linux,
 * native access denied), {@link #available()} is false and callers keep their memory as it is.
 */
final class HugePages {
    private static final Logger LOG = LoggerFactory.getLogger(HugePages.class);
    static final long SIZE = 2L << 20;
    private static final int MADV_HUGEPAGE = 14;
    private static final int PROT_READ_WRITE = 0x1 | 0x2;
    private static final int MAP_PRIVATE_ANONYMOUS = 0x02 | 0x20;
    private static final Path THP_ENABLED = Path.of("/sys/kernel/mm/transparent_hugepage/enabled");
    private static final @Nullable MethodHandle MMAP = function("mmap", FunctionDescriptor.of(ValueLayout.ADDRESS,
            ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
            ValueLayout.JAVA_LONG));
    private static final @Nullable MethodHandle MUNMAP = function("munmap",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
    private static final @Nullable MethodHandle MADVISE = function("madvise",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));

    private HugePages() {
    }

    /** Whether the kernel offers transparent huge pages to advised memory and this JVM can ask for them. */
    static boolean available() {
        return MMAP != null && MUNMAP != null && MADVISE != null && thpEnabled();
    }

    private static boolean thpEnabled() {
        try {
            String s = Files.readString(THP_ENABLED);
            return s.contains("[always]") || s.contains("[madvise]");
        } catch (Exception e) {
            return false;
        }
    }

    /** The libc function {@code name}, or null where it cannot be called (not Linux, native access denied). */
    private static @Nullable MethodHandle function(String name, FunctionDescriptor descriptor) {
        if (!System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("linux")) {
            return null;
        }
        try {
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup().find(name).map(address -> linker.downcallHandle(address, descriptor)).orElse(null);
        } catch (Throwable t) { // IllegalCallerException where native access is denied, and the like
            LOG.debug("{} is not callable: {}", name, t.toString());
            return null;
        }
    }

    /**
     * {@code bytes} (rounded up to whole huge pages) of zeroed memory, 2 MiB-aligned and advised onto
     * huge pages, unmapped when {@code arena} closes; null if the kernel refuses the mapping. Only call
     * when {@link #available()}.
     */
    static @Nullable MemorySegment allocate(Arena arena, long bytes) {
        long length = (bytes + SIZE - 1) / SIZE * SIZE;
        long mapped = length + SIZE; // room to align the start to a huge page
        try {
            MemorySegment base = (MemorySegment) MMAP.invokeExact(MemorySegment.NULL, mapped, PROT_READ_WRITE,
                    MAP_PRIVATE_ANONYMOUS, -1, 0L);
            if (base.address() == -1L) {
                LOG.debug("mmap of {} bytes failed", mapped);
                return null;
            }
            long start = (base.address() + SIZE - 1) / SIZE * SIZE;
            MemorySegment segment = MemorySegment.ofAddress(start).reinterpret(length, arena, unused -> unmap(base, mapped));
            int advised = (int) MADVISE.invokeExact(segment, length, MADV_HUGEPAGE);
            if (advised != 0) {
                LOG.debug("madvise(MADV_HUGEPAGE) of {} bytes failed: they stay on small pages", length);
            }
            return segment;
        } catch (Throwable t) {
            LOG.debug("huge-page mapping of {} bytes failed: {}", mapped, t.toString());
            return null;
        }
    }

    private static void unmap(MemorySegment base, long length) {
        try {
            int unused = (int) MUNMAP.invokeExact(base, length);
        } catch (Throwable t) {
            LOG.warn("munmap of {} bytes failed: {}", length, t.toString());
        }
    }
}
