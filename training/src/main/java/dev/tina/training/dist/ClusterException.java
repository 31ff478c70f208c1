package dev.tina.training.dist;

import java.io.Serial;

/**
 * A cluster run that failed for a reason outside tina's code (lost workers, an executor that cannot
 * load what it needs, a task that failed on every attempt): the command prints its message as one
 * line and exits with status 1; checkpoints already written stay, so {@code --resume} continues.
 */
public final class ClusterException extends RuntimeException {
    @Serial
    private static final long serialVersionUID = 1L;

    public ClusterException(String message, Throwable cause) {
        super(message, cause);
    }
}
