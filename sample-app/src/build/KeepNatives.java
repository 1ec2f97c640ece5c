import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

/**
 * Rewrites one jar nested in a Spring Boot jar so that it keeps the native libraries of the given platforms only:
 * DJL's tokenizers jar carries {@code native/lib/<platform>/...} for four platforms in one artifact (DJL publishes
 * no per-platform jars), so Maven cannot leave the others out and the Boot plugin cannot filter inside a jar.
 *
 * <p>Every other entry of both jars is kept, in its order (the manifest stays first); the nested jar stays
 * STORED, as Spring Boot's loader needs. Fails, changing nothing, when the nested jar is missing or would keep
 * no library (a DJL layout this does not know). Maven runs it after {@code spring-boot:repackage}
 * ({@code sample-app/pom.xml}, profile linux-x86_64-natives).
 *
 * <p>Usage: {@code java KeepNatives.java BOOT_JAR NESTED_ENTRY PLATFORM...}, e.g.
 * {@code BOOT-INF/lib/tokenizers-0.36.0.jar linux-x86_64}.
 */
public final class KeepNatives {
    private static final String NATIVES = "native/lib/";

    private KeepNatives() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 3) {
            throw new IllegalArgumentException("usage: KeepNatives BOOT_JAR NESTED_ENTRY PLATFORM...");
        }
        Path bootJar = Path.of(args[0]);
        String nestedName = args[1];
        List<String> platforms = List.of(args).subList(2, args.length);
        Path tmp = bootJar.resolveSibling(bootJar.getFileName() + ".natives.tmp");
        long before;
        byte[] nested;
        try (ZipFile boot = new ZipFile(bootJar.toFile());
             var out = new ZipOutputStream(Files.newOutputStream(tmp))) {
            ZipEntry original = boot.getEntry(nestedName);
            if (original == null) {
                throw new IllegalStateException(bootJar + " has no entry " + nestedName);
            }
            before = original.getSize();
            try (InputStream in = boot.getInputStream(original)) {
                nested = keep(in.readAllBytes(), platforms);
            }
            for (ZipEntry e : Collections.list(boot.entries())) {
                if (e.getName().equals(nestedName)) {
                    out.putNextEntry(stored(e, nested));
                    out.write(nested);
                } else {
                    // A STORED entry keeps its sizes and CRC; a DEFLATED one is compressed again, sizes left to the stream.
                    ZipEntry copy = e.getMethod() == ZipEntry.STORED ? new ZipEntry(e) : new ZipEntry(e.getName());
                    copy.setTime(e.getTime());
                    out.putNextEntry(copy);
                    try (InputStream in = boot.getInputStream(e)) {
                        in.transferTo(out);
                    }
                }
                out.closeEntry();
            }
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, bootJar, StandardCopyOption.REPLACE_EXISTING);
        System.out.printf("KeepNatives: %s in %s: %d -> %d bytes, natives of %s only%n", nestedName, bootJar.getFileName(),
                before, nested.length, String.join(", ", platforms));
    }

    /** The nested jar without the native libraries of other platforms, its other entries as they were. */
    private static byte[] keep(byte[] jar, List<String> platforms) throws IOException {
        var bytes = new ByteArrayOutputStream(jar.length);
        Set<String> kept = new TreeSet<>();
        try (var in = new ZipInputStream(new ByteArrayInputStream(jar));
             var out = new ZipOutputStream(bytes)) {
            for (ZipEntry e; (e = in.getNextEntry()) != null; ) {
                String platform = platformOf(e.getName());
                if (platform != null && !platforms.contains(platform)) {
                    continue;
                }
                if (platform != null && !e.isDirectory()) {
                    kept.add(platform);
                }
                ZipEntry copy = new ZipEntry(e.getName());
                copy.setTime(e.getTime());
                out.putNextEntry(copy);
                in.transferTo(out);
                out.closeEntry();
            }
        }
        if (!kept.containsAll(platforms)) {
            throw new IllegalStateException("no native library for " + platforms + " under " + NATIVES
                    + "<platform>/ (found " + kept + "): not the layout this expects");
        }
        return bytes.toByteArray();
    }

    /** {@code linux-x86_64} for {@code native/lib/linux-x86_64/cpu/libtokenizers.so}; null outside a platform's directory. */
    private static String platformOf(String name) {
        if (!name.startsWith(NATIVES)) {
            return null;
        }
        int slash = name.indexOf('/', NATIVES.length());
        return slash < 0 ? null : name.substring(NATIVES.length(), slash);
    }

    private static ZipEntry stored(ZipEntry like, byte[] data) {
        var crc = new CRC32();
        crc.update(data);
        var e = new ZipEntry(like.getName());
        e.setMethod(ZipEntry.STORED);
        e.setSize(data.length);
        e.setCompressedSize(data.length);
        e.setCrc(crc.getValue());
        e.setTime(like.getTime());
        return e;
    }
}
