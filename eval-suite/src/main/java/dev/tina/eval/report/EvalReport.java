package dev.tina.eval.report;

import java.util.List;

/** Everything {@code report.json}, {@code report.md} and {@code report.png} show. */
public record EvalReport(List<VariantResult> variants, Provenance provenance) {

    /** Sum over variants. */
    public Timing totalTiming() {
        int sessions = 0;
        double s = 0, g = 0;
        long t = 0, d = 0;
        for (VariantResult v : variants) {
            sessions += v.timing().sessions();
            s += v.timing().seconds();
            g += v.timing().generationSeconds();
            t += v.timing().tokens();
            d += v.timing().discardedTokens();
        }
        return new Timing(sessions, s, g, t, d);
    }
}
