package dev.tina.training.tiny;

import dev.tina.export.AtomicFiles;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;

/** The embedded model's README: what it is, how it was made (the exact command), its scores. */
public final class ModelCard {
    private ModelCard() {}

    public static void write(Path modelDir, TinyPretrainer.Settings s, TinyPretrainer.Result r, HeldOutEval.Result eval) throws IOException {
        String text = String.format(Locale.ROOT, """
                # tina-tiny-arith

                A %,d-parameter decoder in the Qwen2 architecture (4 layers, hidden 128, 4 query / 2 key-value heads,
                tied embeddings, byte-level tokenizer of %d tokens), trained from scratch by tina-java's own
                full-parameter SFT on a synthetic reasoning task: chains of two-digit additions and subtractions
                ("What is 37+48-19?") answered as `<think>` steps `</think>` `\\boxed{answer}`.

                It is tina-java's embedded default: `tina demo` improves it with GRPO on LoRA. It is not a
                general language model; it knows this one task.

                ## How it was made

                ```
                tina pretrain-tiny --seed %d --steps %d --batch %d --lr %s --warmup %d
                ```

                - Corpus: drawn fresh each step from the seeded stream (%,d examples seen); 2/3/4 operands
                  40/40/20%%; half the solutions are written one operation per line, half as one line
                  (`37+48-19=66`); 15%% leave out the closing `</think>`. The held-out problems never occur.
                - Loss: cross-entropy on the assistant's tokens only; AdamW (0.9, 0.98), cosine schedule to 10%%
                  after %d warm-up steps, gradient clipping at 1.0, in ONNX Runtime (gradients) and Java (AdamW).
                - Time: %.0f s on this machine (%d cores); final training loss %.4f.

                ## Scores (held-out, %d problems of 3 and 4 operands, temperature %.1f, top-p %.2f, one sample each)

                | accuracy | format (`\\n</think>\\n` once) | first line step-by-step | accuracy when step-by-step | accuracy when one line | tokens/s sampling |
                |---|---|---|---|---|---|
                | %.3f | %.3f | %.3f | %.3f | %.3f | %.0f |

                Accuracy follows the style the model happens to sample: that is the room GRPO has.
                """, r.parameters(), ByteTokenizer.VOCAB, s.seed(), s.steps(), s.batchSize(), Double.toString(s.learningRate()),
                s.warmupSteps(), (long) s.steps() * s.batchSize(), s.warmupSteps(), r.seconds(),
                Runtime.getRuntime().availableProcessors(), r.finalLoss(), eval.problems(), HeldOutEval.TEMPERATURE, HeldOutEval.TOP_P,
                eval.accuracy(), eval.formatRate(), eval.stepByStepRate(), eval.stepByStepAccuracy(), eval.oneLineAccuracy(),
                eval.tokensPerSecond());
        AtomicFiles.writeString(modelDir.resolve("README.md"), text);
    }
}
