package dev.tina.training.grpo;

import dev.tina.eval.tracking.Tracker;
import dev.tina.export.checkpoint.ModelConfig;
import dev.tina.training.layered.MemoryBudget;
import dev.tina.training.layered.MemoryEstimate;
import dev.tina.training.layered.Recompute;
import com.fasterxml.jackson.annotation.JsonFormat;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.tina.export.checkpoint.CheckpointFormatException;
import dev.tina.export.checkpoint.JsonErrors;

import java.io.IOException;
import java.lang.reflect.RecordComponent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * A GRPO run, in the field names of TRL's {@code GRPOConfig} and PEFT's {@code LoraConfig} so a
 * Tina recipe reads the same (JSON or YAML). Defaults are TRL's where a field is absent. An
 * unknown field is an error that names it and the closest valid one.
 */
public record GrpoRecipe(
        @JsonProperty("model_name_or_path") String modelNameOrPath,
        @JsonProperty("dataset_path") String datasetPath,
        @JsonProperty("dataset_problem_field") String datasetProblemField,
        @JsonProperty("dataset_answer_field") String datasetAnswerField,
        @JsonProperty("system_prompt") String systemPrompt,
        @JsonProperty("use_chat_template") Boolean useChatTemplate,
        @JsonProperty("learning_rate") Double learningRate,
        @JsonProperty("lr_scheduler_type") String lrSchedulerType,
        @JsonProperty("min_lr_rate") Double minLrRate,
        @JsonProperty("warmup_ratio") Double warmupRatio,
        @JsonProperty("max_steps") Integer maxSteps,
        @JsonProperty("per_device_train_batch_size") Integer perDeviceTrainBatchSize,
        @JsonProperty("gradient_accumulation_steps") Integer gradientAccumulationSteps,
        @JsonProperty("num_generations") Integer numGenerations,
        @JsonProperty("max_prompt_length") Integer maxPromptLength,
        @JsonProperty("max_completion_length") Integer maxCompletionLength,
        @JsonProperty("temperature") Double temperature,
        @JsonProperty("top_p") Double topP,
        @JsonProperty("beta") Double beta,
        @JsonProperty("epsilon") Double epsilon,
        @JsonProperty("epsilon_high") Double epsilonHigh,
        @JsonProperty("loss_type") String lossType,
        @JsonProperty("scale_rewards") Boolean scaleRewards,
        @JsonProperty("max_grad_norm") Double maxGradNorm,
        @JsonProperty("weight_decay") Double weightDecay,
        @JsonProperty("adam_beta1") Double adamBeta1,
        @JsonProperty("adam_beta2") Double adamBeta2,
        @JsonProperty("adam_epsilon") Double adamEpsilon,
        @JsonProperty("lora_r") Integer loraR,
        @JsonProperty("lora_alpha") Double loraAlpha,
        @JsonProperty("lora_dropout") Double loraDropout,
        @JsonProperty("lora_target_modules") List<String> loraTargetModules,
        @JsonProperty("use_rslora") Boolean useRslora,
        @JsonProperty("reward_funcs") List<String> rewardFuncs,
        @JsonProperty("reward_weights") List<Double> rewardWeights,
        @JsonProperty("save_steps") Integer saveSteps,
        @JsonProperty("save_total_limit") Integer saveTotalLimit,
        @JsonProperty("seed") Long seed,
        @JsonProperty("logging_steps") Integer loggingSteps,
        @JsonProperty("device") String device,
        @JsonProperty("recompute") String recompute,
        @JsonProperty("memory_budget") String memoryBudget,
        @JsonProperty("quantized_rollouts") Boolean quantizedRollouts,
        // TRL takes one name or a list
        @JsonProperty("report_to") @JsonFormat(with = JsonFormat.Feature.ACCEPT_SINGLE_VALUE_AS_ARRAY) List<String> reportTo) {

    public GrpoRecipe {
        if (device != null) dev.tina.runtime.SessionSettings.Device.parse(device); // "unknown device 'x', expected cpu, cuda or tensorrt"
        if (recompute != null) Recompute.parse(recompute); // "unknown recompute mode 'x', expected one of auto, none, layer"
        if (memoryBudget != null) MemoryBudget.parse(memoryBudget); // "memory budget 'x': expected a fraction … or gigabytes …"
        if (reportTo != null) Tracker.parse(reportTo, "report_to"); // "report_to: unknown value 'x', expected one of jsonl, tensorboard, none"
        if (loraDropout != null && !(loraDropout >= 0 && loraDropout < 1)) {
            throw new IllegalArgumentException("lora_dropout must be in [0, 1), got " + loraDropout);
        }
        if (rewardWeights != null && rewardFuncs != null && rewardWeights.size() != rewardFuncs.size()) {
            throw new IllegalArgumentException("reward_weights has " + rewardWeights.size() + " entries for " + rewardFuncs.size() + " reward_funcs");
        }
    }

    public static GrpoRecipe read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new CheckpointFormatException(file + ": recipe not found");
        String name = file.getFileName().toString();
        ObjectMapper mapper = name.endsWith(".yaml") || name.endsWith(".yml") ? new ObjectMapper(new YAMLFactory()) : new ObjectMapper();
        JsonNode root;
        try {
            root = mapper.readTree(file.toFile());
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new CheckpointFormatException(file + ": " + e.getOriginalMessage(), e);
        }
        return fromTree(root, file.toString());
    }

    /** A recipe from YAML (or JSON, a subset) text; {@code where} names it in errors. */
    public static GrpoRecipe parse(String text, String where) {
        try {
            return fromTree(new ObjectMapper(new YAMLFactory()).readTree(text), where);
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new CheckpointFormatException(where + ": " + e.getOriginalMessage(), e);
        }
    }

    public static GrpoRecipe fromTree(JsonNode root, String where) {
        if (root == null || !root.isObject()) throw new CheckpointFormatException(where + ": a recipe is a mapping of field names to values");
        List<String> known = fieldNames();
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!known.contains(f)) {
                throw new CheckpointFormatException(where + ": unknown field '" + f + "', did you mean '" + closest(f, known) + "'?");
            }
        }
        try {
            return new ObjectMapper().treeToValue(root, GrpoRecipe.class);
        } catch (com.fasterxml.jackson.databind.exc.ValueInstantiationException e) {
            throw new CheckpointFormatException(where + ": " + (e.getCause() != null ? e.getCause().getMessage() : e.getOriginalMessage()), e);
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new CheckpointFormatException(where + ": " + JsonErrors.describe(e), e);
        }
    }

    /** This recipe with some fields replaced (command-line overrides). */
    public GrpoRecipe with(ObjectNode overrides) {
        ObjectNode tree = new ObjectMapper().valueToTree(this);
        tree.setAll(overrides);
        return fromTree(tree, "recipe overrides");
    }

    static List<String> fieldNames() {
        List<String> out = new ArrayList<>();
        for (RecordComponent c : GrpoRecipe.class.getRecordComponents()) out.add(c.getAccessor().getAnnotation(JsonProperty.class) != null
                ? c.getAccessor().getAnnotation(JsonProperty.class).value() : c.getAnnotation(JsonProperty.class) != null
                ? c.getAnnotation(JsonProperty.class).value() : c.getName());
        return out;
    }

    static String closest(String f, List<String> known) {
        String best = known.getFirst();
        int bestD = Integer.MAX_VALUE;
        for (String k : known) {
            int d = levenshtein(f, k);
            if (d < bestD) {
                bestD = d;
                best = k;
            }
        }
        return best;
    }

    private static int levenshtein(String a, String b) {
        int[] prev = new int[b.length() + 1], cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) prev[j] = j;
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }

    // Defaults (TRL's where it has one).
    public double lr() { return learningRate != null ? learningRate : 1e-6; }
    public String scheduler() { return lrSchedulerType != null ? lrSchedulerType : "linear"; }
    public double minLr() { return minLrRate != null ? minLrRate : 0.0; }
    public double warmup() { return warmupRatio != null ? warmupRatio : 0.0; }
    public int steps() { return maxSteps != null ? maxSteps : 100; }
    public int microBatch() { return perDeviceTrainBatchSize != null ? perDeviceTrainBatchSize : 8; }
    public int accumulation() { return gradientAccumulationSteps != null ? gradientAccumulationSteps : 1; }
    public int generations() { return numGenerations != null ? numGenerations : 8; }
    public int promptLength() { return maxPromptLength != null ? maxPromptLength : 512; }
    public int completionLength() { return maxCompletionLength != null ? maxCompletionLength : 256; }
    public double samplingTemperature() { return temperature != null ? temperature : 0.9; }
    public double samplingTopP() { return topP != null ? topP : 1.0; }
    public double klBeta() { return beta != null ? beta : 0.04; }
    public double eps() { return epsilon != null ? epsilon : 0.2; }
    public double epsHigh() { return epsilonHigh != null ? epsilonHigh : eps(); }
    public boolean scale() { return scaleRewards == null || scaleRewards; }
    /** Tina's trainer: scale_rewards switches between per-sequence means ("grpo") and the token mean ("bnpo"). */
    public String loss() { return lossType != null ? lossType : scale() ? "grpo" : "bnpo"; }
    public double gradNorm() { return maxGradNorm != null ? maxGradNorm : 1.0; }
    // AdamW, with transformers' TrainingArguments defaults
    public double beta1() { return adamBeta1 != null ? adamBeta1 : 0.9; }
    public double beta2() { return adamBeta2 != null ? adamBeta2 : 0.999; }
    public double adamEps() { return adamEpsilon != null ? adamEpsilon : 1e-8; }
    public double decay() { return weightDecay != null ? weightDecay : 0.0; }
    public int rank() { return loraR != null ? loraR : 8; }
    public double alpha() { return loraAlpha != null ? loraAlpha : 16; }
    public List<String> targets() { return loraTargetModules != null ? loraTargetModules : List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"); }
    public List<String> rewards() { return rewardFuncs != null ? rewardFuncs : List.of("format", "accuracy"); }
    public List<Double> weights() {
        if (rewardWeights != null) return rewardWeights;
        List<Double> w = new ArrayList<>();
        for (int i = 0; i < rewards().size(); i++) w.add(1.0);
        return w;
    }
    public int saveEvery() { return saveSteps != null ? saveSteps : 10; }
    public int keep() { return saveTotalLimit != null ? saveTotalLimit : 2; }
    public long runSeed() { return seed != null ? seed : 42; }
    public String problemField() { return datasetProblemField != null ? datasetProblemField : "problem"; }
    public String answerField() { return datasetAnswerField != null ? datasetAnswerField : "answer"; }
    public double dropout() { return loraDropout != null ? loraDropout : 0.0; }
    public boolean chat() { return useChatTemplate == null || useChatTemplate; }
    /** Where step metrics go (TRL's report_to): metrics.jsonl by default; tensorboard adds event files; none, neither. */
    public Set<Tracker> trackers() { return reportTo != null ? Tracker.parse(reportTo, "report_to") : Set.of(Tracker.JSONL); }
    /** Not a TRL field: where rollouts and training steps run (cpu, cuda, tensorrt: sampling on TensorRT, training on CUDA). */
    public dev.tina.runtime.SessionSettings.Device deviceKind() {
        return device == null ? dev.tina.runtime.SessionSettings.Device.CPU : dev.tina.runtime.SessionSettings.Device.parse(device);
    }

    /** Not a TRL field: the gradient pass's memory/compute trade ({@link Recompute}); default auto. */
    /**
     * Not a TRL field: sample rollouts on the export's quantized graphs ({@code tina export --quantize}). Off-policy:
     * the trainer's log-probabilities stay the full-precision model's, and every step logs the gap between the two
     * ({@code sampler_trainer_logp_gap}), as TRL does with a lower-precision vLLM sampler. Default false.
     */
    public boolean rolloutsQuantized() { return Boolean.TRUE.equals(quantizedRollouts); }

    public Recompute recomputeMode() { return recompute != null ? Recompute.parse(recompute) : Recompute.AUTO; }

    /** Not a TRL field: what the whole-model gradient graph may take before auto picks the layered pass ({@link MemoryBudget}). */
    public MemoryBudget memoryBudgetOrDefault() { return memoryBudget != null ? MemoryBudget.parse(memoryBudget) : MemoryBudget.DEFAULT; }

    /**
     * The gradient pass for this recipe's largest micro-batch ({@code per_device_train_batch_size}
     * sequences of {@code max_prompt_length + max_completion_length} tokens) on a machine with
     * {@code physicalBytes} of memory.
     */
    public Recompute.Decision recomputeDecision(ModelConfig config, long physicalBytes) {
        MemoryEstimate e = MemoryEstimate.wholeGraph(config, microBatch(), promptLength() + completionLength(),
                (long) microBatch() * completionLength());
        return recomputeMode().decide(e, memoryBudgetOrDefault().bytes(physicalBytes), deviceKind());
    }

    /** This recipe with the gradient pass fixed to {@code mode} (what the trainer hands its workers once auto is decided). */
    public GrpoRecipe withRecompute(Recompute mode) {
        return with(new ObjectMapper().createObjectNode().put("recompute", mode.cli()));
    }
}
