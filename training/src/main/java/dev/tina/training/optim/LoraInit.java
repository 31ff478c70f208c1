package dev.tina.training.optim;

import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.export.checkpoint.Projection;
import dev.tina.export.peft.PeftAdapter;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * PEFT's default LoRA initialisation: A from Kaiming-uniform with a = √5 (which is
 * uniform(−1/√in, 1/√in)), B zeros, so a new adapter starts as the base model. Seeded.
 */
public final class LoraInit {
    private LoraInit() {}

    public static Map<String, float[]> peft(ModelConfig c, List<Projection> targets, int rank, long seed) {
        if (rank < 1) throw new IllegalArgumentException("LoRA rank must be >= 1, got " + rank);
        Map<String, float[]> out = new LinkedHashMap<>();
        for (int layer = 0; layer < c.numHiddenLayers(); layer++) {
            for (Projection p : targets) {
                String a = PeftAdapter.tensorName(layer, p, 'A');
                SplittableRandom rng = new SplittableRandom(seed ^ (a.hashCode() * 0x9E3779B97F4A7C15L));
                float[] av = new float[rank * p.inFeatures(c)];
                double bound = 1 / Math.sqrt(p.inFeatures(c));
                for (int i = 0; i < av.length; i++) av[i] = (float) rng.nextDouble(-bound, bound);
                out.put(a, av);
                out.put(PeftAdapter.tensorName(layer, p, 'B'), new float[p.outFeatures(c) * rank]);
            }
        }
        return out;
    }
}
