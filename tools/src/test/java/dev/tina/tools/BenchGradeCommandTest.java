package dev.tina.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** {@code tina bench grade}: every reference solution graded correct, none timing out, speeds reported. */
class BenchGradeCommandTest {
    @Test
    void gradesTheShippedAnswersAndReportsSpeed(@TempDir Path tmp) throws Exception {
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = new CommandLine(new TinaCommand());
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        Path json = tmp.resolve("bench.json");
        int code = cl.execute("bench", "grade", "--repeats", "1", "--threads", "2", "--step-seconds", "121.7", "--out", json.toString());
        assertEquals(0, code, err.toString());
        assertTrue(out.toString().contains("cases/s"), out.toString());
        assertTrue(out.toString().contains("of a 121.7 s step"), out.toString());
        JsonNode r = new ObjectMapper().readTree(json.toFile());
        assertEquals(3 * 772, r.get("cases").asInt());
        for (String k : new String[]{"one_thread", "threads_2"}) {
            assertEquals(0, r.get(k).get("timeouts").asInt());
            // the 772 reference solutions are correct, short and long; another problem's gold only where the two are one answer
            assertTrue(r.get(k).get("correct").asInt() >= 2 * 772 && r.get(k).get("correct").asInt() < 2 * 772 + 20, r.toString());
            assertTrue(r.get(k).get("cases_per_second").asDouble() > 0);
        }
    }
}
