package dev.tina.tools;

import picocli.CommandLine.Option;

import java.nio.file.Path;

/** {@code --model}: the one model option of the commands that run a model (declared once, mixed in). */
final class ModelOption {
    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "Hugging Face folder (exported into the cache on first use) or exported folder")
    Path model;

    Path path() { return model; }
}
