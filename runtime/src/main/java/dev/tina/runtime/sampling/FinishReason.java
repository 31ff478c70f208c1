package dev.tina.runtime.sampling;

/** Why a completion ended, in vLLM's/OpenAI's words. */
public enum FinishReason {
    /** an EOS or stop token id, or a stop string */
    STOP,
    /** {@code max_new_tokens} reached */
    LENGTH;

    public String wire() { return name().toLowerCase(java.util.Locale.ROOT); }
}
