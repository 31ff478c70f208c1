/**
 * Benchmarks, the math-answer grader and evaluation reports. The grader lives in
 * {@link dev.tina.eval.grading}; benchmarks and reports are still to come (issue "Eval suite").
 */
package dev.tina.eval;
