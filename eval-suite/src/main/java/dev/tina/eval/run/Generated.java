package dev.tina.eval.run;

/**
 * One completion from a {@link Generator}.
 *
 * @param index  the prompt's position in the run (its problem's global index)
 * @param sample the sample index, 0 … n-1
 * @param tokens generated tokens, a final EOS included
 * @param finish {@code stop} or {@code length}
 */
public record Generated(int index, int sample, String text, int tokens, String finish) {}
