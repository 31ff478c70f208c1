package dev.tina.eval.grading;

import dev.tina.eval.bench.Catalog;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class GoldFieldTest {
    static final ObjectMapper JSON = new ObjectMapper();

    static JsonNode row(String json) throws Exception { return JSON.readTree(json); }

    @Test
    void aimeAndAmcUseTheAnswerFieldWithFloatsAsIntegers() throws Exception {
        GoldField amc = Catalog.shipped("amc23").gold();
        assertEquals("27", amc.gold(row("{\"answer\": 27.0}")));
        assertEquals("27", amc.gold(row("{\"answer\": \"27.0\"}")));
        assertEquals("2.5", amc.gold(row("{\"answer\": 2.5}")));
        assertEquals("204", Catalog.shipped("AIME24").gold().gold(row("{\"answer\": \"204\"}")));
        assertEquals("\\frac{1}{2}", amc.gold(row("{\"answer\": \"\\\\frac{1}{2}\"}")));
    }

    @Test
    void mathAndMinervaUseTheLastBoxInTheSolution() throws Exception {
        GoldField math = Catalog.shipped("math500").gold();
        assertEquals("\\frac{3}{56}", math.gold(row("{\"solution\": \"so $\\\\boxed{7}$ no; $p(8) = \\\\boxed{\\\\frac{3}{56}}$.\"}")));
        assertEquals("\\left( 3, \\frac{\\pi}{2} \\right)", Catalog.shipped("minerva").gold()
                .gold(row("{\"solution\": \"are $\\\\boxed{\\\\left( 3, \\\\frac{\\\\pi}{2} \\\\right)}.$\"}")));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> math.gold(row("{\"solution\": \"no box\"}")));
        assertTrue(e.getMessage().contains("solution"));
    }

    @Test
    void gsm8kTakesTheTextAfterHashesWithoutCommas() throws Exception {
        assertEquals("1200", Catalog.shipped("gsm8k").gold().gold(row("{\"answer\": \"She earns 600*2 = 1,200.\\n#### 1,200\"}")));
    }

    @Test
    void unknownBenchmarksAndMissingFieldsSayWhat() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Catalog.shipped("mmlu"));
        assertTrue(e.getMessage().contains("gsm8k"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Catalog.shipped("gsm8k").gold().gold(row("{\"question\": \"q\"}")));
        assertTrue(e.getMessage().contains("'answer'"), e.getMessage());
    }
}
