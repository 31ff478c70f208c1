package dev.tina.tools.dist;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * Keeps only some GPU architectures' device code in a CUDA shared library, in place.
 *
 * <p>Written by hand because no available tool does it: NVIDIA's {@code nvprune} works on object
 * files and static libraries, not on a linked {@code .so}, and is not packaged for this machine. The
 * device code lives in the ELF section {@code .nv_fatbin}: a run of fat binaries, each a header (magic
 * {@code 0xBA55ED50}, version, header size, size of what follows) then entries (kind, version, header
 * size, payload size, …, the SM number at byte 28) each followed by its payload. The host code finds
 * each fat binary through a pointer to its start ({@code .nvFatBinSegment}), so every fat binary stays
 * where it is: the kept entries move up behind its header, its size shrinks, and the freed tail is
 * zeroed. The file keeps its size and layout (a valid ELF, every address unchanged); the zeros compress
 * to almost nothing. A GPU of a dropped architecture then finds no kernel image for itself.
 */
public final class FatbinPruner {
    private FatbinPruner() {}

    static final int FATBIN_MAGIC = 0xBA55ED50;

    /** What was found and kept: the architectures (SM numbers) present before, the fat binaries, the bytes freed. */
    public record Result(SortedSet<Integer> found, int fatbins, int entriesKept, int entriesDropped, long bytesFreed) {}

    /** "sm_90,sm_80" → {90, 80}; a one-line error for anything else. */
    public static Set<Integer> parseArchs(String list) {
        Set<Integer> out = new TreeSet<>();
        for (String s : list.split(",", -1)) {
            String a = s.strip();
            if (!a.matches("sm_\\d{2,3}")) throw new IllegalArgumentException("--cuda-arch: '" + a + "': expected sm_NN, e.g. sm_90 (comma-separated)");
            out.add(Integer.parseInt(a.substring(3)));
        }
        return out;
    }

    /** Rewrites {@code library}'s {@code .nv_fatbin} to hold only the entries of {@code keep} (SM numbers). */
    public static Result prune(Path library, Set<Integer> keep) throws IOException {
        try (FileChannel ch = FileChannel.open(library, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            long[] section = findSection(ch, library, ".nv_fatbin");
            if (section[1] > Integer.MAX_VALUE) throw new IllegalArgumentException(library + ": .nv_fatbin over 2 GiB, not supported");
            MappedByteBuffer b = ch.map(FileChannel.MapMode.READ_WRITE, section[0], section[1]);
            b.order(ByteOrder.LITTLE_ENDIAN);
            SortedSet<Integer> found = scanArchs(b, library);
            if (!found.containsAll(keep)) {
                throw new IllegalArgumentException("--cuda-arch: " + library.getFileName() + " has no device code for " + names(diff(keep, found))
                        + " (it holds " + names(found) + ")");
            }
            int fatbins = 0, kept = 0, dropped = 0;
            long freed = 0;
            int p = 0, end = b.capacity();
            while (p < end) {
                int magic = b.getInt(p);
                if (magic == 0) { p += 8; continue; } // alignment padding between fat binaries
                if (magic != FATBIN_MAGIC) throw new IllegalArgumentException(library + ": .nv_fatbin+" + p + ": expected a fat binary header (0xBA55ED50)");
                int headerSize = Short.toUnsignedInt(b.getShort(p + 6));
                long size = b.getLong(p + 8);
                int body = p + headerSize, bodyEnd = Math.toIntExact(body + size);
                byte[] keptBytes = new byte[Math.toIntExact(size)];
                int written = 0;
                for (int e = body; e < bodyEnd; ) {
                    int entryHeader = b.getInt(e + 4);
                    int entrySize = Math.toIntExact(entryHeader + b.getLong(e + 8));
                    if (keep.contains(b.getInt(e + 28))) {
                        b.get(e, keptBytes, written, entrySize);
                        written += entrySize;
                        kept++;
                    } else {
                        dropped++;
                    }
                    e += entrySize;
                }
                if (written == 0) throw new IllegalArgumentException(library + ": .nv_fatbin+" + p + ": this fat binary has no device code for " + names(keep));
                b.put(body, keptBytes, 0, written);
                b.put(body + written, new byte[bodyEnd - body - written]);
                b.putLong(p + 8, written);
                freed += bodyEnd - body - written;
                fatbins++;
                p = bodyEnd;
            }
            b.force();
            return new Result(found, fatbins, kept, dropped, freed);
        }
    }

    /** The SM numbers with device code in the library. */
    public static SortedSet<Integer> archs(Path library) throws IOException {
        try (FileChannel ch = FileChannel.open(library, StandardOpenOption.READ)) {
            long[] section = findSection(ch, library, ".nv_fatbin");
            MappedByteBuffer b = ch.map(FileChannel.MapMode.READ_ONLY, section[0], section[1]);
            b.order(ByteOrder.LITTLE_ENDIAN);
            return scanArchs(b, library);
        }
    }

    private static SortedSet<Integer> scanArchs(MappedByteBuffer b, Path library) {
        SortedSet<Integer> found = new TreeSet<>();
        int p = 0;
        while (p < b.capacity()) {
            int magic = b.getInt(p);
            if (magic == 0) { p += 8; continue; }
            if (magic != FATBIN_MAGIC) throw new IllegalArgumentException(library + ": .nv_fatbin+" + p + ": expected a fat binary header (0xBA55ED50)");
            int body = p + Short.toUnsignedInt(b.getShort(p + 6));
            int bodyEnd = Math.toIntExact(body + b.getLong(p + 8));
            for (int e = body; e < bodyEnd; e += Math.toIntExact(b.getInt(e + 4) + b.getLong(e + 8))) found.add(b.getInt(e + 28));
            p = bodyEnd;
        }
        return found;
    }

    /** {file offset, size} of the named section of a little-endian ELF64 file. */
    static long[] findSection(FileChannel ch, Path file, String name) throws IOException {
        var h = ch.map(FileChannel.MapMode.READ_ONLY, 0, Math.min(ch.size(), 64)).order(ByteOrder.LITTLE_ENDIAN);
        if (ch.size() < 64 || h.getInt(0) != 0x464C457F || h.get(4) != 2 || h.get(5) != 1) {
            throw new IllegalArgumentException(file + ": expected a 64-bit little-endian ELF file");
        }
        long shoff = h.getLong(0x28);
        int shentsize = Short.toUnsignedInt(h.getShort(0x3A)), shnum = Short.toUnsignedInt(h.getShort(0x3C)), shstrndx = Short.toUnsignedInt(h.getShort(0x3E));
        var sh = ch.map(FileChannel.MapMode.READ_ONLY, shoff, (long) shentsize * shnum).order(ByteOrder.LITTLE_ENDIAN);
        long strOff = sh.getLong(shstrndx * shentsize + 24), strSize = sh.getLong(shstrndx * shentsize + 32);
        var strings = ch.map(FileChannel.MapMode.READ_ONLY, strOff, strSize);
        byte[] want = name.getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < shnum; i++) {
            int nameAt = sh.getInt(i * shentsize);
            boolean match = nameAt + want.length < strSize && strings.get(nameAt + want.length) == 0;
            for (int k = 0; match && k < want.length; k++) match = strings.get(nameAt + k) == want[k];
            if (match) return new long[]{sh.getLong(i * shentsize + 24), sh.getLong(i * shentsize + 32)};
        }
        throw new IllegalArgumentException(file + ": no " + name + " section (not a CUDA library?)");
    }

    private static Set<Integer> diff(Set<Integer> a, Set<Integer> b) {
        Set<Integer> d = new TreeSet<>(a);
        d.removeAll(b);
        return d;
    }

    static String names(Set<Integer> archs) {
        List<String> n = new ArrayList<>();
        for (int a : archs) n.add("sm_" + a);
        return String.join(", ", n);
    }
}
