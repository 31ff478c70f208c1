package dev.tina.tools.dist;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Pruning on a small ELF file laid out like the CUDA provider's (fat binaries of sm_80 and sm_90 cubins, padding between them). */
class FatbinPrunerTest {
    static final int DATA = 64;

    /** A fat binary: header (16 bytes) then one entry per arch, each a 64-byte header and {@code payload} bytes of the arch number. */
    static byte[] fatbin(int payload, int... archs) {
        ByteBuffer b = ByteBuffer.allocate(16 + archs.length * (64 + payload)).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(FatbinPruner.FATBIN_MAGIC).putShort((short) 1).putShort((short) 16).putLong(archs.length * (64L + payload));
        for (int a : archs) {
            int at = b.position();
            b.putShort((short) 2).putShort((short) 0x101).putInt(64).putLong(payload);
            b.putInt(at + 28, a);
            b.position(at + 64);
            for (int i = 0; i < payload; i++) b.put((byte) a);
        }
        return b.array();
    }

    /** An ELF64 file: header, the .nv_fatbin bytes at offset 64, .shstrtab, three section headers. */
    static Path elf(Path dir, byte[] section) throws IOException {
        byte[] names = "\0.nv_fatbin\0.shstrtab\0".getBytes(StandardCharsets.US_ASCII);
        int strOff = DATA + section.length, shOff = strOff + names.length;
        ByteBuffer b = ByteBuffer.allocate(shOff + 3 * 64).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, 0x464C457F).put(4, (byte) 2).put(5, (byte) 1).put(6, (byte) 1);
        b.putLong(0x28, shOff).putShort(0x3A, (short) 64).putShort(0x3C, (short) 3).putShort(0x3E, (short) 2);
        b.put(DATA, section).put(strOff, names);
        b.putInt(shOff + 64, 1).putInt(shOff + 64 + 4, 1).putLong(shOff + 64 + 24, DATA).putLong(shOff + 64 + 32, section.length);
        b.putInt(shOff + 128, 12).putInt(shOff + 128 + 4, 3).putLong(shOff + 128 + 24, strOff).putLong(shOff + 128 + 32, names.length);
        Path f = dir.resolve("libfake_cuda.so");
        Files.write(f, b.array());
        return f;
    }

    static byte[] twoFatbins() {
        byte[] one = fatbin(40, 80, 90), two = fatbin(24, 90, 80);
        ByteBuffer s = ByteBuffer.allocate(one.length + 8 + two.length); // 8 bytes of alignment padding between them
        s.put(one).position(one.length + 8);
        s.put(two);
        return s.array();
    }

    @Test
    void keepsOnlyTheNamedArchitecturesInPlace(@TempDir Path dir) throws IOException {
        Path lib = elf(dir, twoFatbins());
        long size = Files.size(lib);
        assertEquals(Set.of(80, 90), FatbinPruner.archs(lib));

        FatbinPruner.Result r = FatbinPruner.prune(lib, Set.of(90));
        assertEquals(Set.of(80, 90), r.found());
        assertEquals(2, r.fatbins());
        assertEquals(2, r.entriesKept());
        assertEquals(2, r.entriesDropped());
        assertEquals(64 + 40 + 64 + 24, r.bytesFreed());
        assertEquals(size, Files.size(lib), "offsets and size unchanged");
        assertEquals(Set.of(90), FatbinPruner.archs(lib));

        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(lib)).order(ByteOrder.LITTLE_ENDIAN);
        // first fat binary: where it was, sm_90's entry moved behind its header, its size shrunk, the freed tail zero
        assertEquals(FatbinPruner.FATBIN_MAGIC, b.getInt(DATA));
        assertEquals(64 + 40, b.getLong(DATA + 8));
        assertEquals(90, b.getInt(DATA + 16 + 28));
        byte[] payload = new byte[40];
        b.get(DATA + 16 + 64, payload);
        byte[] nineties = new byte[40];
        Arrays.fill(nineties, (byte) 90);
        assertArrayEquals(nineties, payload);
        for (int i = DATA + 16 + 64 + 40; i < DATA + 16 + 2 * (64 + 40); i++) assertEquals(0, b.get(i), "freed byte " + i);
        // second fat binary still at its offset, its sm_90 entry (listed first) kept
        int second = DATA + 16 + 2 * (64 + 40) + 8;
        assertEquals(FatbinPruner.FATBIN_MAGIC, b.getInt(second));
        assertEquals(64 + 24, b.getLong(second + 8));
        assertEquals(90, b.getInt(second + 16 + 28));
    }

    @Test
    void refusesArchitecturesTheLibraryLacks(@TempDir Path dir) throws IOException {
        Path lib = elf(dir, twoFatbins());
        byte[] before = Files.readAllBytes(lib);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FatbinPruner.prune(lib, Set.of(90, 100)));
        assertTrue(e.getMessage().contains("sm_100") && e.getMessage().contains("sm_80, sm_90"), e.getMessage());
        assertArrayEquals(before, Files.readAllBytes(lib), "nothing written");
    }

    @Test
    void refusesWhatIsNotACudaLibrary(@TempDir Path dir) throws IOException {
        Path text = Files.writeString(dir.resolve("x.so"), "not an ELF file, but long enough to have a header of sixty-four bytes....");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> FatbinPruner.prune(text, Set.of(90))).getMessage().contains("ELF"));
        byte[] garbage = fatbin(8, 90);
        garbage[0] = 1; // no fat binary magic
        Path bad = elf(dir, garbage);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> FatbinPruner.prune(bad, Set.of(90))).getMessage().contains("0xBA55ED50"));
    }

    @Test
    void parsesArchitectureLists() {
        assertEquals(Set.of(80, 90, 120), FatbinPruner.parseArchs("sm_90, sm_80,sm_120"));
        for (String bad : new String[]{"90", "compute_90", "sm_9", "sm_90,"}) {
            assertThrows(IllegalArgumentException.class, () -> FatbinPruner.parseArchs(bad), bad);
        }
    }
}
