package dev.tina.eval.grading;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The debatable choices, graded under both conventions (eval-suite/README.md, "Conventions"). */
class ConventionsTest {
    static Grader tina, mathVerify;

    @BeforeAll
    static void start() {
        Grader.Options o = new Grader.Options(Duration.ofSeconds(10), 8);
        tina = new Grader(o);
        mathVerify = new Grader(o.withConventions(Conventions.named("math-verify")));
    }

    @AfterAll
    static void stop() {
        tina.close();
        mathVerify.close();
    }

    @ParameterizedTest(name = "{0} vs {1}: tina {2}, math-verify {3} ({4})")
    @CsvSource(delimiter = '|', textBlock = """
            25\\%             | \\boxed{25}                | true  | false | the percent sign left off
            25\\%             | \\boxed{0.25}              | true  | true  | X% is X/100 in both
            25\\%             | \\boxed{0.25\\%}           | false | false | two signed percentages compare as values
            (-\\infty, 3)     | \\boxed{x < 3}             | true  | false | a gold interval against an inequality
            x < 3             | \\boxed{(-\\infty, 3)}     | true  | true  | a gold inequality against an interval: compared as sets in both
            (-\\infty, 3]     | \\boxed{x < 3}             | false | false | strict against non-strict never
            y = t^2 - 1       | \\boxed{g(t) = t^2 - 1}    | true  | false | a formula under another dependent name
            x = 5             | \\boxed{y = 5}             | false | false | a named value keeps its name in both
            1, 2              | \\boxed{2, 1}              | true  | true  | a bare list is unordered in both
            (1, 2)            | \\boxed{(2, 1)}            | false | false | a tuple is ordered in both
            \\frac{1}{3}      | \\boxed{0.33}              | true  | false | a correctly rounded decimal for a fraction without an exact one
            \\frac{1}{3}      | \\boxed{0.333333}          | true  | true  | six places in both
            7.78             | \\boxed{\\frac{70}{9}}     | true  | false | an exact value for a rounded gold
            """)
    void bothConventions(String gold, String completion, boolean underTina, boolean underMathVerify, String why) {
        assertEquals(underTina, tina.grade(gold, completion).correct(), "tina: " + why);
        assertEquals(underMathVerify, mathVerify.grade(gold, completion).correct(), "math-verify: " + why);
    }

    @ParameterizedTest
    @CsvSource({"lenient", "''", "mathverify2"})
    void unknownNamesAreRefused(String name) {
        assertThrows(IllegalArgumentException.class, () -> Conventions.named(name));
    }
}
