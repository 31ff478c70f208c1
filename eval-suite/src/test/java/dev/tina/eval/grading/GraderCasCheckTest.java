package dev.tina.eval.grading;

import org.junit.jupiter.api.Test;

import java.net.URL;
import java.net.URLClassLoader;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A class path without Symja (a slim distribution) makes grading refuse in one line instead of scoring every symbolic answer as unknown. */
class GraderCasCheckTest {
    @Test
    void refusesWithoutTheCas() throws Exception {
        try (URLClassLoader bare = new URLClassLoader(new URL[0], null)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Grader.casJudge(bare));
            assertTrue(e.getMessage().contains("matheclipse-core") && e.getMessage().contains("slim") && !e.getMessage().contains("\n"), e.getMessage());
        }
    }

    @Test
    void acceptsTheBuildsClassPath() {
        assertNotNull(Grader.casJudge(Grader.class.getClassLoader()));
    }
}
