package dev.tina.runtime.sampling;

import ai.onnxruntime.OrtException;
import dev.tina.runtime.AdapterBinding;

import java.lang.foreign.MemorySegment;

/**
 * An engine whose KV cache is a fixed number of slots allocated once at their final length and
 * written in place, so that {@link BatchSampler} can batch continuously: a finished row's slot is
 * taken by a waiting request (prefilled into it and joined to the running batch), and rows are
 * moved only one at a time, never the whole cache. The active rows are always the slots
 * {@code [0, active)}.
 */
public non-sealed interface SlotBackend extends Engine {
    /** Allocates {@code slots} cache rows of {@code maxLength} positions each. */
    Slots open(int slots, int maxLength) throws OrtException;

    /** One allocation of slots; owns the cache buffers. */
    interface Slots extends AutoCloseable {
        int capacity();

        int maxLength();

        /**
         * Runs {@code prompt} into slot {@code slot} (cache positions [0, prompt.length), whatever
         * the slot held) and returns the [vocab] logits at its last position (an array the next
         * prefill or step may overwrite).
         */
        float[] prefill(int slot, long[] prompt, AdapterBinding adapter) throws OrtException;

        /**
         * As {@link #prefill}, the logits as a segment of floats: engines that own their output
         * buffer hand it over without a copy (it holds until the next prefill or step).
         */
        default MemorySegment prefillLogits(int slot, long[] prompt, AdapterBinding adapter) throws OrtException {
            return MemorySegment.ofArray(prefill(slot, prompt, adapter));
        }

        /** Copies cache positions [0, length) of slot {@code from} to slot {@code to} (fan-out, compaction). */
        void copy(int from, int to, int length);

        /**
         * Appends one token to each of the slots [0, active): {@code ids[r]} at position
         * {@code cached[r]} (= the tokens slot r holds). Returns the [active, vocab] logits, in an
         * array the next prefill or step may overwrite.
         */
        float[] step(int active, long[] ids, int[] cached, AdapterBinding adapter) throws OrtException;

        /** As {@link #step}, the [active, vocab] logits as a segment of floats, as {@link #prefillLogits}. */
        default MemorySegment stepLogits(int active, long[] ids, int[] cached, AdapterBinding adapter) throws OrtException {
            return MemorySegment.ofArray(step(active, ids, cached, adapter));
        }

        /**
         * As {@link #step}, over the slots [first, first + count) only, {@code ids[r]} and
         * {@code cached[r]} for slot first + r: a server decodes each adapter's rows as one group.
         */
        float[] step(int first, int count, long[] ids, int[] cached, AdapterBinding adapter) throws OrtException;

        @Override
        void close();
    }
}
