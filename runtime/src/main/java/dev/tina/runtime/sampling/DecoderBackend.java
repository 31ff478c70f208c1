package dev.tina.runtime.sampling;

import ai.onnxruntime.OrtException;
import dev.tina.runtime.AdapterBinding;

/**
 * What {@link BatchSampler} needs from an engine: prefill a wave of left-padded prompts, select
 * (repeat or drop) rows of its KV cache, and decode one token per row. The engine owns where the
 * cache lives: ONNX Runtime tensors ({@link OrtBackend}) or device memory that never leaves the
 * GPU ({@code dev.tina.runtime.gpu.TensorRtDecoder}). Sampling, stop rules and per-row random
 * streams stay in {@link BatchSampler}, the same for every engine.
 */
public non-sealed interface DecoderBackend extends Engine {
    /**
     * Runs [batch, seq] row-major ids and positions with a [batch, seq] mask (left padding: 0) and
     * returns the wave, whose cache then holds the prompts and whose {@link Wave#lastLogits()} are
     * the [batch, vocab] logits at the last position. {@code rowsAfterFanOut} and
     * {@code maxNewTokens} bound the cache the wave will need (engines that preallocate it use them).
     */
    Wave prefill(long[] ids, long[] mask, long[] pos, int batch, int seq, int rowsAfterFanOut, int maxNewTokens,
                 AdapterBinding adapter) throws OrtException;

    /** One wave's decoding state; owns its KV cache. */
    interface Wave extends AutoCloseable {
        /** [batch, vocab] logits of the latest pass, row-major. */
        float[] lastLogits();

        /** Row i of the cache becomes row {@code rows[i]} of the current one (fan-out and compaction). */
        void selectRows(long[] rows) throws OrtException;

        /**
         * Appends one token per row: ids and positions [batch], mask [batch, cached + 1]. Returns the
         * [batch, vocab] logits (also {@link #lastLogits()}).
         */
        float[] step(long[] ids, long[] mask, long[] pos, int batch, AdapterBinding adapter) throws OrtException;

        @Override
        void close();
    }
}
