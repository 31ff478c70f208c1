/**
 * Benchmarks, the math-answer grader and evaluation reports: {@link dev.tina.eval.Evaluation} runs a whole
 * evaluation in a run folder. {@link dev.tina.eval.bench} reads the benchmarks (shipped, GPQA from a user file,
 * custom JSONL) and fills Tina's prompt; {@link dev.tina.eval.run} generates, grades and appends samples,
 * resumably; {@link dev.tina.eval.score} holds the estimators (pass@k, maj@k, bootstrap intervals);
 * {@link dev.tina.eval.report} writes the Markdown, JSON and PNG reports; the grader lives in
 * {@link dev.tina.eval.grading}.
 */
package dev.tina.eval;
