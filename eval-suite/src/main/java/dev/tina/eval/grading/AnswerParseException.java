package dev.tina.eval.grading;

/** An answer that cannot be read as mathematics; the message says why (shown for unparseable golds). */
final class AnswerParseException extends RuntimeException {
    AnswerParseException(String message) { super(message, null, false, false); }
}
