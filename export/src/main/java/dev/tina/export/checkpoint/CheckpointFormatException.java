package dev.tina.export.checkpoint;

/**
 * A checkpoint, adapter or configuration that cannot be used as given. The message names the
 * file and, where there is one, the tensor or field, and says what was expected.
 */
public class CheckpointFormatException extends RuntimeException {
    public CheckpointFormatException(String message) { super(message); }
    public CheckpointFormatException(String message, Throwable cause) { super(message, cause); }
}
