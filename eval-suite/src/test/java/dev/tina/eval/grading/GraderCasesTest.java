package dev.tina.eval.grading;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Equivalence of every answer kind, written as (gold ⟂ prediction ⟂ verdict) rows. */
class GraderCasesTest {
    static Grader grader;

    @BeforeAll
    static void start() {
        grader = new Grader(new Grader.Options(Duration.ofSeconds(10), 8));
        grader.warmUp();
    }

    @AfterAll
    static void stop() { grader.close(); }

    /** One row per line: gold ⟂ prediction ⟂ T|F. */
    static final String CASES = """
            42 ⟂ 42 ⟂ T
            42 ⟂ 42.0 ⟂ T
            42 ⟂ 43 ⟂ F
            42 ⟂ -42 ⟂ F
            0.5 ⟂ \\frac{1}{2} ⟂ T
            \\frac12 ⟂ 0.5 ⟂ T
            \\dfrac{1}{2} ⟂ 1/2 ⟂ T
            \\dfrac12 ⟂ \\frac{1}{2} ⟂ T
            \\tfrac{3}{4} ⟂ 0.75 ⟂ T
            \\frac{1}{3} ⟂ 0.333333 ⟂ T
            \\frac{1}{3} ⟂ 0.33 ⟂ T
            \\frac{1}{3} ⟂ 0.3 ⟂ F
            \\frac{2}{3} ⟂ 0.67 ⟂ T
            \\frac{2}{3} ⟂ 0.66 ⟂ F
            \\frac{1}{8} ⟂ 0.13 ⟂ F
            \\frac{1}{8} ⟂ 0.125 ⟂ T
            7.78 ⟂ \\frac{70}{9} ⟂ T
            0.5 ⟂ 0.54 ⟂ F
            \\pi ⟂ 3.14 ⟂ F
            \\sqrt{2} ⟂ 1.414 ⟂ F
            \\sqrt{2} ⟂ 1.4142136 ⟂ T
            1000000 ⟂ 1,000,000 ⟂ T
            1000000 ⟂ 10^6 ⟂ T
            1.5\\times 10^{3} ⟂ 1500 ⟂ T
            6.02 \\times 10^{23} ⟂ 6.02e23 ⟂ T
            3 \\times 10^{8} ⟂ 300000000 ⟂ T
            2.5 \\times 10^{-3} ⟂ 0.0025 ⟂ T
            50\\% ⟂ 0.5 ⟂ T
            50\\% ⟂ 50 ⟂ T
            50 ⟂ 50\\% ⟂ T
            0.5 ⟂ 50\\% ⟂ T
            50\\% ⟂ 5 ⟂ F
            \\$5 ⟂ 5 ⟂ T
            5 ⟂ \\$5.00 ⟂ T
            5 \\text{ cm} ⟂ 5 ⟂ T
            5 ⟂ 5 \\text{ cm}^2 ⟂ T
            90^\\circ ⟂ 90 ⟂ T
            90 ⟂ 90^{\\circ} ⟂ T
            10 ⟂ 10 meters ⟂ T
            3 ⟂ 3.00 ⟂ T
            1,000 ⟂ 1000 ⟂ T
            0.25 ⟂ \\frac{1}{4} ⟂ T
            2\\sqrt{2} ⟂ \\sqrt{8} ⟂ T
            \\frac{\\sqrt{2}}{2} ⟂ \\frac{1}{\\sqrt{2}} ⟂ T
            \\frac{\\sqrt{3}}{3} ⟂ \\frac{1}{\\sqrt3} ⟂ T
            3\\sqrt{2} ⟂ 3\\sqrt{3} ⟂ F
            \\sqrt[3]{8} ⟂ 2 ⟂ T
            4\\sqrt{3} ⟂ \\sqrt{48} ⟂ T
            2+\\sqrt{3} ⟂ \\sqrt{3}+2 ⟂ T
            \\frac{1+\\sqrt{5}}{2} ⟂ \\frac{\\sqrt5+1}{2} ⟂ T
            \\sqrt{2}+\\sqrt{3} ⟂ \\sqrt{5+2\\sqrt{6}} ⟂ T
            2\\pi ⟂ 2 \\pi ⟂ T
            \\frac{\\pi}{2} ⟂ \\pi/2 ⟂ T
            9\\pi ⟂ 9π ⟂ T
            \\frac{9}{4}\\pi ⟂ \\frac{9\\pi}{4} ⟂ T
            x^2+2x+1 ⟂ (x+1)^2 ⟂ T
            \\frac{x+2}{7} ⟂ \\frac{x}{7}+\\frac{2}{7} ⟂ T
            x+1 ⟂ x-1 ⟂ F
            2x ⟂ x2 ⟂ T
            \\sin^2 x + \\cos^2 x ⟂ 1 ⟂ T
            e^{i\\pi} ⟂ -1 ⟂ T
            \\ln(e^2) ⟂ 2 ⟂ T
            \\log_2 8 ⟂ 3 ⟂ T
            \\log_{2}{8} ⟂ 3 ⟂ T
            n! ⟂ n \\cdot (n-1)! ⟂ T
            (n+1)! ⟂ (n+1) n! ⟂ T
            5! ⟂ 120 ⟂ T
            120 ⟂ 5! ⟂ T
            3! ⟂ 5 ⟂ F
            3! ⟂ 3 ⟂ F
            n! ⟂ n ⟂ F
            \\binom{5}{2} ⟂ 10 ⟂ T
            \\dbinom{6}{3} ⟂ 20 ⟂ T
            2^{10} ⟂ 1024 ⟂ T
            \\frac{a}{b} ⟂ a/b ⟂ T
            ab ⟂ ba ⟂ T
            |x| ⟂ x ⟂ F
            \\sqrt{x^2} ⟂ |x| ⟂ T
            \\frac{x^2-1}{x-1} ⟂ x+1 ⟂ T
            \\tan x ⟂ \\frac{\\sin x}{\\cos x} ⟂ T
            \\sin(2x) ⟂ 2\\sin x\\cos x ⟂ T
            (1,2) ⟂ (2,1) ⟂ F
            (1,2) ⟂ (1,2) ⟂ T
            (1, \\frac{1}{2}) ⟂ (1, 0.5) ⟂ T
            \\{1,2\\} ⟂ \\{2,1\\} ⟂ T
            1,2 ⟂ 2,1 ⟂ T
            1,2,3 ⟂ 1,2 ⟂ F
            [0,1] ⟂ [0,1) ⟂ F
            [0,1] ⟂ [0, 1] ⟂ T
            (-\\infty, 3) ⟂ x<3 ⟂ T
            x<3 ⟂ (-\\infty,3) ⟂ T
            (-\\infty, 3] ⟂ x \\le 3 ⟂ T
            [2, \\infty) ⟂ x \\geq 2 ⟂ T
            (1,2) ⟂ 1<x<2 ⟂ T
            (-\\infty,-1)\\cup(1,\\infty) ⟂ |x|>1 ⟂ T
            (-\\infty,-1)\\cup(1,\\infty) ⟂ (1,\\infty)\\cup(-\\infty,-1) ⟂ T
            (-\\infty,-1)\\cup(1,\\infty) ⟂ (-\\infty,-1]\\cup[1,\\infty) ⟂ F
            \\{3\\} ⟂ 3 ⟂ T
            3 ⟂ \\{3\\} ⟂ T
            \\emptyset ⟂ \\varnothing ⟂ T
            \\mathbb{R} ⟂ (-\\infty, \\infty) ⟂ T
            x=5 ⟂ 5 ⟂ T
            5 ⟂ x=5 ⟂ T
            y=2x+3 ⟂ y = 3+2x ⟂ T
            y=2x+3 ⟂ 2x+3 ⟂ T
            x=5 ⟂ y=5 ⟂ F
            x+y=1 ⟂ 2x+2y=2 ⟂ T
            x^2+y^2=1 ⟂ y^2+x^2=1 ⟂ T
            x=2, y=3 ⟂ (2,3) ⟂ T
            x=2, y=3 ⟂ y=3, x=2 ⟂ T
            x = \\pm 2 ⟂ x=2, x=-2 ⟂ T
            \\pm 2 ⟂ 2, -2 ⟂ T
            1 \\pm \\sqrt{5} ⟂ 1+\\sqrt5, 1-\\sqrt5 ⟂ T
            2x + z = 1 ⟂ 1 ⟂ F
            f(x) = 2x ⟂ f(t) = 2t ⟂ T
            \\frac{1}{3} ⟂ k = \\frac{1}{3} ⟂ T
            10 ⟂ x = 5+5 ⟂ T
            x > 2 ⟂ 2 < x ⟂ T
            x > 2 ⟂ x < 2 ⟂ F
            \\begin{pmatrix}1&2\\\\3&4\\end{pmatrix} ⟂ \\begin{bmatrix}1&2\\\\3&4\\end{bmatrix} ⟂ T
            \\begin{pmatrix}1&2\\\\3&4\\end{pmatrix} ⟂ \\begin{pmatrix}1&3\\\\2&4\\end{pmatrix} ⟂ F
            \\begin{pmatrix}1\\\\2\\end{pmatrix} ⟂ (1,2) ⟂ T
            \\begin{pmatrix} 2 \\\\ -1 \\\\ 3 \\end{pmatrix} ⟂ \\begin{pmatrix} 2 \\\\ -1 \\\\ 3 \\end{pmatrix} ⟂ T
            \\text{odd} ⟂ odd ⟂ T
            \\text{even} ⟂ odd ⟂ F
            \\text{(C)} ⟂ C ⟂ T
            B ⟂ The answer is (B). ⟂ T
            C ⟂ \\boxed{C} ⟂ T
            C ⟂ \\boxed{\\text{(C)}} ⟂ T
            D ⟂ The answer is (B) ⟂ F
            1011_2 ⟂ 1011_2 ⟂ T
            204_5 ⟂ 204 ⟂ T
            204_5 ⟂ 205_5 ⟂ F
            73 ⟂ The answer is **73**. ⟂ T
            73 ⟂ So we get **73** ⟂ T
            \\{1,2\\} ⟂ \\boxed{1}\\boxed{2} ⟂ T
            12 ⟂ \\boxed{1}\\boxed{2} ⟂ F
            2 ⟂ \\boxed{1} no no no no no \\boxed{2} ⟂ T
            5 ⟂ <think>so \\boxed{3}</think> The answer is \\boxed{5} ⟂ T
            5 ⟂ <answer>5</answer> ⟂ T
            5 ⟂ The answer is 5. ⟂ T
            5 ⟂ Final Answer: The final answer is $5$. I hope it is correct. ⟂ T
            \\frac{1}{2} ⟂ \\boxed{\\dfrac12} ⟂ T
            \\frac{1}{2} ⟂ \\boxed{\\dfrac{1}{2}} ⟂ T
            18 ⟂ Janet has 16 - 3 - 4 = 9 eggs, 9 * 2 = $18. #### 18 ⟂ T
            3 ⟂ x = 3 \\text{ or } x = -3 ⟂ F
            \\pm 3 ⟂ x = 3 \\text{ or } x = -3 ⟂ T
            i ⟂ \\sqrt{-1} ⟂ T
            3+4i ⟂ 4i+3 ⟂ T
            3+4i ⟂ 3-4i ⟂ F
            2\\frac{1}{2} ⟂ \\frac{5}{2} ⟂ T
            -1\\frac{1}{3} ⟂ -\\frac{4}{3} ⟂ T
            2\\frac{x}{3} ⟂ \\frac{2x}{3} ⟂ T
            0.\\overline{3} ⟂ \\frac{1}{3} ⟂ T
            0.1\\overline{6} ⟂ \\frac16 ⟂ T
            \\{x \\mid x > 2\\} ⟂ (2, \\infty) ⟂ T
            [1,2]\\cup[2,3] ⟂ [1,3] ⟂ T
            \\{1,2\\}\\cup\\{3\\} ⟂ \\{1,2,3\\} ⟂ T
            (0,1)\\cup\\{1\\} ⟂ (0,1] ⟂ T
            (0,1)\\cup(2,3) ⟂ (0,3) ⟂ F
            60 ⟂ 60 miles per hour ⟂ T
            100 ⟂ 100 \\text{km/h} ⟂ T
            5 ⟂ so \\boxed{3}. Final Answer: The final answer is 5. I hope it is correct. ⟂ T
            A ⟂ the answer is a prime number ⟂ F
            \\text{no solution} ⟂ The answer is: no solution ⟂ T
            x \\in [-2,7] ⟂ [-2,7] ⟂ T
            \\left( 3, \\frac{\\pi}{2} \\right) ⟂ \\boxed{(3, \\tfrac{\\pi}{2})} ⟂ T
            \\langle 1, 2 \\rangle ⟂ (1,2) ⟂ T
            x \\neq 5 ⟂ (-\\infty,5)\\cup(5,\\infty) ⟂ T
            1 < x < 3 ⟂ 3 > x > 1 ⟂ T
            y = x + 1 ⟂ x - y + 1 = 0 ⟂ T
            -\\frac{1}{2} ⟂ \\frac{-1}{2} ⟂ T
            \\frac{1}{2}x ⟂ \\frac{x}{2} ⟂ T
            10_{10} ⟂ 10 ⟂ T
            \\text{Even} ⟂ even ⟂ T
            3:4 ⟂ \\frac{3}{4} ⟂ T
            \\sqrt{2}/2 ⟂ sqrt(2)/2 ⟂ T
            x^2 ⟂ x**2 ⟂ T
            2^(1/2) ⟂ \\sqrt{2} ⟂ T
            e^{x} ⟂ \\exp(x) ⟂ T
            \\operatorname{lcm}(4, 6) ⟂ 12 ⟂ T
            1 000 000 ⟂ 1000000 ⟂ T
            3,14 ⟂ 3.14 ⟂ T
            (-\\infty, -2) \\cup (2, \\infty) ⟂ The solution is $x < -2$ or $x > 2$. ⟂ T
            (1, 3) ⟂ $x > 1$ and $x < 3$ ⟂ F
            2 ⟂ It costs $5 and the tax is $2. ⟂ T
            x = 3 ⟂ 2x = 6 ⟂ T
            6 ⟂ xy = 6 ⟂ T
            6 ⟂ 2x = 6 ⟂ T
            0 ⟂ 7.4e-12 ⟂ F
            1.39e-10 ⟂ 5.3e-9 ⟂ F
            7.4e-12 ⟂ 7.4 \\times 10^{-12} ⟂ T
            \\frac{1}{3} \\times 10^{-9} ⟂ 0.00 ⟂ F
            -1./3 ⟂ -\\frac{1}{3} ⟂ T
            np.arcsin(10/13) ⟂ \\arcsin\\left(\\frac{10}{13}\\right) ⟂ T
            y = -x + 3 ⟂ x + y = 3 ⟂ T
            y = -x + 3 ⟂ x + y = 4 ⟂ F
            a_n = 2n - 1 ⟂ \\boxed{2n-1} ⟂ T
            m = 2, n = 3 ⟂ \\boxed{(m, n) = (2, 3)} ⟂ T
            [1, 5) ⟂ \\boxed{1 \\le x < 5} ⟂ T
            [1, 5) ⟂ \\boxed{1 < x < 5} ⟂ F
            \\frac{-1 \\pm \\sqrt{5}}{2} ⟂ \\frac{-1+\\sqrt5}{2} ⟂ F
            \\begin{pmatrix} 1/2 \\\\ 1/3 \\end{pmatrix} ⟂ \\begin{pmatrix} 0.5 \\\\ 0.333333 \\end{pmatrix} ⟂ T
            \\$1.50 ⟂ 1.5 ⟂ T
            A ⟂ The correct answer is (A) 42 ⟂ T
            \\pi ⟂ 3.1415926 ⟂ T
            18 ⟂ She makes 9 * 2 = 18 dollars. The answer: #### 18 ⟂ T
            """;

    @Test
    void everyKindOfAnswer() {
        List<String> failures = new ArrayList<>();
        int n = 0;
        for (String line : CASES.strip().split("\n")) {
            String[] f = line.split("⟂");
            String gold = f[0].strip(), pred = f[1].strip();
            boolean expected = f[2].strip().equals("T");
            GradeResult r = grader.grade(gold, pred);
            n++;
            if (r.correct() != expected) failures.add(line.strip() + "   → " + r.status() + " [" + r.extracted() + "] " + r.detail());
        }
        System.out.println(failures.size() + " of " + n + " rows fail");
        failures.forEach(System.out::println);
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }
}
