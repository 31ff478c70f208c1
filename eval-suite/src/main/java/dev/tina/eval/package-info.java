/**
 * Benchmarks, the math-answer grader and evaluation reports. Not built yet: see the
 * issue "Eval suite".
 */
package dev.tina.eval;
