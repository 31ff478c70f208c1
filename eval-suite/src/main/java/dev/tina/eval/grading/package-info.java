/**
 * The math-answer grader: the accuracy reward in GRPO and the scorer of the benchmarks.
 *
 * <pre>
 * completion ──AnswerExtractor──▶ answer text ──LatexNormalizer──▶ clean LaTeX ──ExpressionParser──▶ Node
 *                                                                                  │ AnswerParser
 * gold ───────────(same path)───────────────────────────────────────────────▶ Answer (sealed kinds)
 *                                                                                  │ Equivalence
 *                                      Grader (hard deadline on an abandonable worker) ▶ GradeResult
 * </pre>
 *
 * Equivalence decides exact rationals itself, evaluates everything else at random points (which also
 * catches identities the CAS cannot prove), and asks the CAS (Symja) where sampling cannot decide.
 * Measured: 98.1% agreement with Math-Verify's own test verdicts (MathVerifyAgreementTest).
 */
package dev.tina.eval.grading;
