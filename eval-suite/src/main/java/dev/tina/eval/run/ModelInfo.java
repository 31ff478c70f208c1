package dev.tina.eval.run;

/**
 * The model under evaluation, for provenance and for pinning a run to it.
 *
 * @param fingerprint the export descriptor's source fingerprint (SHA-256 over config.json and the safetensors
 *                    headers with file sizes), the identity of the weights
 */
public record ModelInfo(String path, String exportDir, String fingerprint, String architecture) {}
