package dev.tina.export.quant;

import dev.tina.export.quant.BlockQuantizer.Scheme;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** int4's default block is the largest of 128, 64, 32, 16 dividing every in-feature count; int8 keeps 32. */
class BlockSizeDefaultTest {
    @Test
    void int4TakesTheLargestBlockThatDividesEveryProjection() {
        assertEquals(128, BlockQuantizer.defaultBlockSize(Scheme.INT4, List.of(1536, 8960)));   // the 1.5B shape
        assertEquals(128, BlockQuantizer.defaultBlockSize(Scheme.INT4, List.of(128, 384)));     // the embedded model
        assertEquals(32, BlockQuantizer.defaultBlockSize(Scheme.INT4, List.of(288, 768)));      // stories15M: 288 = 9 × 32
        assertEquals(64, BlockQuantizer.defaultBlockSize(Scheme.INT4, List.of(192, 512)));
        assertEquals(16, BlockQuantizer.defaultBlockSize(Scheme.INT4, List.of(48, 64)));
        // nothing divides: 32, which the export then refuses in one line naming the weight
        assertEquals(32, BlockQuantizer.defaultBlockSize(Scheme.INT4, List.of(100)));
        assertEquals("w: in-features 100 are not a multiple of the block size 32 (choose --block-size dividing 100)",
                BlockQuantizer.check("w", 10, 100, 32));
        assertNull(BlockQuantizer.check("w", 10, 128, 32));
    }

    @Test
    void int8KeepsThirtyTwo() {
        assertEquals(32, BlockQuantizer.defaultBlockSize(Scheme.INT8, List.of(1536, 8960)));
    }
}
