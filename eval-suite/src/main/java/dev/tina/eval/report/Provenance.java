package dev.tina.eval.report;

import dev.tina.eval.run.EvalSettings;
import dev.tina.eval.run.ModelInfo;
import dev.tina.eval.run.RunManifest;

import java.util.List;

/**
 * What a report's numbers depend on: model identity, settings, seeds, prompts, data digests, grader version, and
 * when and how fast it ran.
 *
 * @param seedDerivation how each sample's random stream is derived
 * @param started        when the first session began (ISO-8601)
 * @param finished       when this report was written
 */
public record Provenance(String toolVersion, String graderVersion, ModelInfo model, EvalSettings settings,
                         List<RunManifest.BenchmarkInfo> benchmarks, String promptTemplate, String seedDerivation, String ciMethod,
                         String started, String finished) {}
