package dev.tina.testsupport;

import java.nio.file.Path;

/**
 * The shared test data beside the checkout ({@code ../shared}: fixtures, models, tokenizers,
 * benchmark data), found from the repository root that the build passes as {@code tina.repo.root}
 * (a test run from a module folder falls back to its parent). Tests only: the product never reads it.
 */
public final class Shared {
    /** The repository root. */
    public static final Path REPO = Path.of(System.getProperty("tina.repo.root", "..")).toAbsolutePath().normalize();
    /** {@code ../shared} beside the repository. */
    public static final Path ROOT = REPO.resolve("../shared").normalize();

    private Shared() {}

    /** A path under {@code ../shared}, e.g. {@code path("fixtures/qwen2-small")}. */
    public static Path path(String relative) { return ROOT.resolve(relative).normalize(); }
}
