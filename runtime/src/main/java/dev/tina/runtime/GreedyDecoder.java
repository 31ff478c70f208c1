package dev.tina.runtime;

import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Set;

/**
 * Greedy (argmax) decoding of one prompt with the KV cache: one prefill pass, then one pass per new
 * token. The reference decoder for oracle tests and the quick demo; the batched sampler with
 * temperature, top-p and shared prefill builds on the same forward pass.
 */
public final class GreedyDecoder {
    private GreedyDecoder() {}

    /** Returns the generated ids (prompt excluded), stopping after a stop id or {@code maxNewTokens}. */
    public static long[] generate(OrtDecoder decoder, AdapterBinding adapter, long[] prompt, int maxNewTokens, Set<Long> stopIds)
            throws Exception {
        if (prompt.length == 0) throw new IllegalArgumentException("prompt must hold at least one token id");
        int vocab = decoder.descriptor().vocabSize();
        for (long id : prompt) {
            if (id < 0 || id >= vocab) throw new IllegalArgumentException("prompt token id " + id + " is outside the vocabulary [0, " + vocab + ")");
        }
        long[] out = new long[maxNewTokens];
        int n = 0;
        long[] pos = new long[prompt.length];
        for (int i = 0; i < pos.length; i++) pos[i] = i;
        long[] mask = new long[prompt.length];
        Arrays.fill(mask, 1);
        DecoderOutput step;
        try (KvCache empty = KvCache.empty(decoder.environment(), decoder.descriptor(), 1)) {
            step = decoder.forward(new long[][]{prompt}, new long[][]{mask}, new long[][]{pos}, empty, adapter);
        }
        try {
            int length = prompt.length;
            while (n < maxNewTokens) {
                long next = argmax(step.logits(), (step.sequenceLength() - 1) * vocab, vocab);
                out[n++] = next;
                if (stopIds.contains(next) || n == maxNewTokens) break;
                long[] m = new long[length + 1];
                Arrays.fill(m, 1);
                DecoderOutput nextStep = decoder.forward(new long[][]{{next}}, new long[][]{m}, new long[][]{{length}},
                        step.presentCache(), adapter);
                step.close();
                step = nextStep;
                length++;
            }
        } finally {
            step.close();
        }
        return Arrays.copyOf(out, n);
    }

    static long argmax(FloatBuffer logits, int offset, int vocab) {
        int best = 0;
        float bestV = Float.NEGATIVE_INFINITY;
        for (int k = 0; k < vocab; k++) {
            float v = logits.get(offset + k);
            if (v > bestV) {
                bestV = v;
                best = k;
            }
        }
        return best;
    }
}
